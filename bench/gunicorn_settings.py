"""Gunicorn settings shared by the app and the hello ceiling in the benchmark.

``gunicorn -c bench/gunicorn_settings.py wsgi:app``.  The worker count and the bind
address come from the environment (BENCH_WORKERS, BENCH_BIND) so the driver can vary them.
"""

import os

bind = os.environ.get("BENCH_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("BENCH_WORKERS", "2"))
worker_class = os.environ.get("BENCH_WORKER_CLASS", "gthread")
threads = int(os.environ.get("BENCH_THREADS", "2"))
# No preload: each worker builds its own app, so no database connection made in the
# master is ever shared by two forked workers.
preload_app = False
backlog = 2048
keepalive = 5
accesslog = None
loglevel = "warning"
