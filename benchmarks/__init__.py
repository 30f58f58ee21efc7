"""Benchmarks of the whole pipeline (not part of the test suite): ``python3 dev.py bench``."""
