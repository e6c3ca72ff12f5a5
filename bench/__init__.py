"""Benchmarks: load and export, with their results recorded in bench/RESULTS.md."""
