"""SQLite writers queue on a file lock held from BEGIN IMMEDIATE to COMMIT/ROLLBACK."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from initiatives import create_app, sqlite_writers
from initiatives.extensions import db
from initiatives.sqlite_writers import WriterLockConnection

from .conftest import _test_config


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "writers.sqlite3"
    connection = WriterLockConnection(path)
    connection.execute("CREATE TABLE t (x INTEGER)")
    connection.commit()
    connection.close()
    return path


def test_a_second_writer_gets_the_lock_only_after_the_first_commits(database, monkeypatch):
    first = WriterLockConnection(database)
    second = WriterLockConnection(database, check_same_thread=False)
    first.begin_write()
    first.execute("INSERT INTO t VALUES (1)")
    # Do not wait in the test: give up at once and leave it to SQLite.
    monkeypatch.setattr(sqlite_writers, "WAIT_SECONDS", 0)
    done = threading.Event()
    holds: list[bool] = []

    def other_thread() -> None:  # a thread of its own, as another request would be
        second.begin_write()
        holds.append(second._locked)
        second.end_write()
        first_done.wait(10)
        second.begin_write()
        holds.append(second._locked)
        second.rollback()
        holds.append(second._locked)
        done.set()

    first_done = threading.Event()
    worker = threading.Thread(target=other_thread)
    worker.start()
    while not holds:
        worker.join(0.01)
    first.commit()
    first_done.set()
    assert done.wait(10)
    worker.join(10)
    assert holds == [False, True, False]
    first.close()
    second.close()


def test_a_thread_never_waits_for_its_own_other_connection(database, monkeypatch):
    monkeypatch.setattr(sqlite_writers, "WAIT_SECONDS", 30)
    first, second = WriterLockConnection(database), WriterLockConnection(database)
    first.begin_write()
    second.begin_write()  # returns at once instead of waiting 30 s for this thread
    assert first._locked and not second._locked
    first.rollback()
    second.begin_write()
    assert second._locked
    second.rollback()
    first.close()
    second.close()


def test_the_app_takes_and_drops_the_lock_around_each_write(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    app = create_app(_test_config(url, tmp_path / "instance"))
    with app.app_context():
        db.create_all()
        connection = db.session.connection().connection.dbapi_connection
        assert isinstance(connection, WriterLockConnection)
        assert connection._locked  # outside a GET request every transaction may write
        db.session.execute(sa.text("SELECT 1"))
        db.session.commit()
        assert not connection._locked
        with app.test_request_context("/", method="GET"):
            db.session.execute(sa.text("SELECT 1"))
            reader = db.session.connection().connection.dbapi_connection
            assert not reader._locked
            db.session.rollback()
        db.session.remove()
        db.engine.dispose()
