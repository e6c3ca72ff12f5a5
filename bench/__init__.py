"""Benchmarks: ``python -m bench`` (or ``make bench``) runs them all.

The load driver starts the app itself under gunicorn against SQLite and PostgreSQL, runs a
bare Flask "hello" of the same stack as the ceiling, drives it with clients that behave
like browsers, and records results in ``bench/RESULTS.md``.
"""
