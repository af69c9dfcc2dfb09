"""Input pipeline: TFDS ArrayRecord sources, preprocessors, grain loaders."""
