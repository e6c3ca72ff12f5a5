"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

import gc

from initiatives import create_app

app = create_app()
# What start-up made (modules, the app, SQLAlchemy's mappers) lives as long as the
# process.  Frozen, the collector's full passes no longer scan it: each took ~60 ms of
# a worker's time, longer than the signing target's p99, every few hundred requests.
gc.freeze()
