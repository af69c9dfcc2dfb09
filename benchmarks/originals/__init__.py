"""benchmarks/vs_originals.py's parts: specs, harness arithmetic, notebook loading, per-side workers."""
