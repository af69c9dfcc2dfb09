"""SAMSEMO (multilingual scenes): languages, splits, emotion order and the release's file layout.

The layout is `../shared/specs/dataset_formats.md` section 3 (the Hugging Face release and the
original scripts keep files in different folders; `tfds_builders/samsemo/layout.py` searches both).
"""

from __future__ import annotations

from mmer_jax.datasets.dataset import Dataset

LANGUAGES = ("EN", "DE", "ES", "PL", "KO")
DATASET = Dataset(
    name="samsemo",
    configs=tuple(lang.lower() for lang in LANGUAGES) + ("all",),
    modalities=("audio", "text", "vision"),
    manual_download=True)

SPLITS = ("train", "valid", "test")
# Label order of meta.pkl (run.py's --emotions default). "anger" is Anger+ (anger or disgust);
# fear and "other emotions" are not represented.
EMOTIONS = ("anger", "happiness", "sadness", "surprise", "neutral")

# The 32 columns of samsemo.tsv (UTF-16 with BOM, tab-separated), in file order.
TSV_COLUMNS = (
    "utterance_id", "movie_title", "movie_link", "source_scene_start", "source_scene_stop", "language",
    "sex", "age", "race", "covered_face", "multiple_faces", "emotion_1_annotator_1",
    "emotion_2_annotator_1", "emotion_1_annotator_2", "emotion_2_annotator_2", "emotion_1_annotator_3",
    "emotion_2_annotator_3", "aggregated_emotions", "annotator_1", "annotator_2", "annotator_3",
    "transcript", "translation_de", "translation_en", "translation_es", "translation_ko",
    "translation_pl", "duration", "movie_type", "license", "author", "download_date")
# The tsv columns stored with every example (speaker and scene traits for sliced evaluation).
TSV_TRAITS = ("sex", "age", "race", "covered_face", "multiple_faces", "movie_type")

# Where the HF release (metadata/, splits/, data/<LANG>/) and the original scripts
# (meta_and_splits/, segmented/combined/) keep things, relative to manual_dir.
META_DIRS = ("", "metadata", "meta_and_splits", "data/meta_and_splits", "final_selection/meta_and_splits")
SPLIT_DIRS = ("", "splits", "meta_and_splits", "metadata", "data/splits", "data/meta_and_splits",
              "final_selection/meta_and_splits")
FILES_DIRS = ("{LANG}", "data/{LANG}", "{lang}", "data/{lang}", "segmented/combined",
              "final_selection/segmented/combined", "data", "")
