"""CMU-MOSEI TFDS builder: SDK computational sequences (`.csd`) and the raw release.

The builder class lives in `cmu_mosei_dataset_builder.py`; the sibling modules hold one concept
each (`csd` reading, `align` word/segment alignment, `folds`, `raw_release`, `report`).
"""
