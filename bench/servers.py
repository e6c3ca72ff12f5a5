"""Start what the benchmark measures: fresh databases and gunicorn instances.

Each target gets a fresh database (a SQLite file in a temporary directory, or a
PostgreSQL database created and dropped here), migrated with ``flask db upgrade`` and
loaded with the demo initiatives, exactly as an operator would set one up.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import psycopg
from cryptography.fernet import Fernet

from .cpu import children

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SETTINGS = Path(__file__).resolve().parent / "gunicorn_settings.py"
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def app_root() -> Path:
    """Where the measured app's code is: this checkout, or another one (--app-root)
    to compare revisions with the same driver."""
    return Path(os.environ.get("BENCH_APP_ROOT", ROOT)).resolve()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Target:
    """A database the app runs against, with the environment that points at it."""

    name: str
    database_url: str
    env: dict[str, str]
    pg_database: str | None = None


def app_environment(database_url: str, instance: Path, port: int) -> dict[str, str]:
    """Production settings with freshly made keys; mail stays in the outbox."""
    return {
        "PYTHONPATH": str(app_root()),
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATA_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "ORGANISATION_EMAIL": "kontakt@bench.example.org",
        # Nothing listens here: mail stays queued in the outbox, as when SMTP is slow.
        "SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "RATELIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }


def flask(env: dict[str, str], *args: str) -> None:
    """Run a ``flask --app initiatives`` command with the target's environment."""
    subprocess.run(
        [str(BIN / "flask"), "--app", "initiatives", *args],
        cwd=app_root(),
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextmanager
def scratch_target(backend: str, prefix: str, app_root: Path | None = None) -> Iterator[Target]:
    """A fresh database of ``backend`` ("sqlite" or "postgres") for a script that runs the
    app in its own process, removed afterwards.  With ``app_root`` (``--app-root``) the
    app of that checkout: the database is migrated by its revisions, and this process
    imports its code."""
    if app_root is not None:
        os.environ["BENCH_APP_ROOT"] = str(app_root.resolve())
        sys.path.insert(0, str(app_root.resolve()))
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        target = postgres_target if backend == "postgres" else sqlite_target
        # Not 5000: production settings refuse the default BASE_URL (127.0.0.1:5000).
        with target(Path(tmp), 8000) as database:
            yield database


@contextmanager
def sqlite_target(tmp: Path, port: int) -> Iterator[Target]:
    instance = tmp / "sqlite-instance"
    url = f"sqlite:///{instance / 'bench.sqlite3'}"
    target = Target("sqlite", url, app_environment(url, instance, port))
    flask(target.env, "db", "upgrade")
    flask(target.env, "demo")
    yield target


@contextmanager
def postgres_target(tmp: Path, port: int) -> Iterator[Target]:
    name = f"initiatives_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    target = Target("postgres", url, app_environment(url, tmp / "pg-instance", port), name)
    try:
        flask(target.env, "db", "upgrade")
        flask(target.env, "demo")
        yield target
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_backends(database: str) -> list[int]:
    """Process ids of the PostgreSQL backends serving one database (for CPU accounting)."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
    return [row[0] for row in rows]


class Gunicorn:
    """A gunicorn master with its workers, started and stopped by the benchmark."""

    def __init__(self, app: str, port: int, env: dict[str, str], workers: int, root: Path):
        self.app = app
        self.root = root
        self.port = port
        self.env = {
            **os.environ,
            **env,
            "BENCH_BIND": f"127.0.0.1:{port}",
            "BENCH_WORKERS": str(workers),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, probe: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(SETTINGS), self.app],
            cwd=self.root,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn for {self.app} exited with {self.process.returncode}")
            try:
                with urlopen(f"http://127.0.0.1:{self.port}{probe}", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn for {self.app} did not answer on {probe}")

    def workers(self) -> list[int]:
        return children(self.process.pid) if self.process else []

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def gunicorn(
    app: str, port: int, env: dict[str, str], workers: int, probe: str, root: Path = ROOT
) -> Iterator[Gunicorn]:
    server = Gunicorn(app, port, env, workers, root)
    try:
        server.start(probe)
        yield server
    finally:
        server.stop()
