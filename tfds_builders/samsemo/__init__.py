"""SAMSEMO TFDS builder (see README.md)."""
