"""Benchmarks for gotty-py, run by hand (`make bench`); they print figures, never assert."""
