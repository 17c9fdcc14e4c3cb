"""Benchmarks of Ferris against the bare API server, measured in the same run (`make bench`)."""
