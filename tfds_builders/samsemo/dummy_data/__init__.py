"""Generator of a miniature SAMSEMO release for tests and benchmarks."""
