"""Benchmarks run by ``make bench``: every figure is printed as a ratio against a baseline
measured in the same run, so numbers from different machines stay comparable."""
