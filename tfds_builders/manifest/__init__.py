"""The manifest builder: any labelled CSV / JSON Lines manifest of text, audio and video."""
