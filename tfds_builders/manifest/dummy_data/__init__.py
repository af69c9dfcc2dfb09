"""Miniature manifests with generated media and planted faults, for the manifest builder's tests."""
