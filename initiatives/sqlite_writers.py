"""Writers to one SQLite file wait on a file lock, not in SQLite's busy handler.

SQLite lets one writer in at a time.  The others retry from its busy handler, which
sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries, so under a surge of signers the
sleeping set the pace and the p99: the lock was often free while waiters slept.  Each
connection here takes an exclusive ``flock`` on ``<database>-writer.lock`` before
``BEGIN IMMEDIATE`` and drops it right after ``COMMIT`` or ``ROLLBACK``; a waiter
polls it every 0.1–1 ms instead.  After WAIT_SECONDS (the busy timeout) it stops waiting
and SQLite's own handling decides, so nothing can hang here.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from typing import Any

WAIT_SECONDS = 15.0
FIRST_POLL = 0.0001
LAST_POLL = 0.001

# Lock files this thread holds through one of its connections: a thread that writes
# through a second connection while the first is still open must not wait for itself.
_held = threading.local()


def _held_here() -> set[str]:
    if not hasattr(_held, "paths"):
        _held.paths = set()
    return _held.paths


class WriterLockConnection(sqlite3.Connection):
    """A sqlite3 connection that can queue for the database's writer lock."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any):
        super().__init__(database, *args, **kwargs)
        self._lock_path = f"{os.fspath(database)}-writer.lock"
        self._lock_fd: int | None = None
        self._locked = False
        self._holder: set[str] = set()

    def begin_write(self) -> None:
        """Wait (bounded) until no other connection is writing, then hold the lock."""
        if self._locked or self._lock_path in _held_here():
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + WAIT_SECONDS
        pause = FIRST_POLL
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return  # let SQLite's busy timeout decide
                time.sleep(pause)
                pause = min(pause * 2, LAST_POLL)
        self._locked = True
        # Remember whose set to clear: a connection may be closed from another thread.
        self._holder = _held_here()
        self._holder.add(self._lock_path)

    def end_write(self) -> None:
        if self._locked and self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self._locked = False
            self._holder.discard(self._lock_path)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_write()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_write()

    def close(self) -> None:
        self.end_write()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        super().close()
