"""Plain feature extractors shared by the TFDS builders and by prediction on the user's own media.

One module per modality; every public function is a pure function of its inputs (file paths or numpy
arrays) so that a builder, a benchmark and `predict` compute exactly the same numbers.

- `audio`: loading/resampling, MME2E power mel + 32-frame pieces, log-mel, openSMILE LLDs.
- `audio_stats`: seed 003's 276 utterance statistics (Sahu 2019 lineage), in the seed's column order.
- `video`: frame sampling, speaker half, face detection, 48x48 crops.
- `text`: transcript clean-up variants, Hugging Face tokenisation, TF-IDF.
- `text_encoder`: frozen BERT/ALBERT CLS and token states from a local checkpoint folder.
- `mocap`: IEMOCAP MoCap parsing, seed 004's 200-chunk means, NaN masks.

Submodules are imported explicitly (`from mmer_jax.features import audio`) so that importing the
package does not pull in heavy optional dependencies (opensmile, cv2, transformers).
"""
