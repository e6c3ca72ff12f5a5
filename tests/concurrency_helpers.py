"""Helpers for the race tests (``test_concurrency_*``): requests released at the same
moment, and a transaction that holds what another request needs until it waits
(``while_held``: on PostgreSQL, whose activity view shows who waits for a lock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.models import Initiative

PG = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def prepared_signers(app, emails: list[str], **fields: str) -> list[Callable[[], int]]:
    """One browser per signer, each with its CSRF token fetched before the race; the
    sign form's status code when called.  ``fields`` (a name, a postcode) for all."""
    from .conftest import csrf_token, sign_form

    actions = []
    for email in emails:
        browser = app.test_client()
        data = sign_form(**{"name": f"Signer {email.split('@')[0]}", **fields, "email": email})
        data["csrf_token"] = csrf_token(browser, "/i/amiralsgatan")

        def act(browser=browser, data=data) -> int:
            return browser.post("/i/amiralsgatan/sign", data=data).status_code

        actions.append(act)
    return actions


def run_at_once(actions: list[Callable[[], int]]) -> list[int]:
    """Run each action in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(actions))
    results: list[int] = [0] * len(actions)
    errors: list[BaseException] = []

    def runner(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = actions[i]()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def handed_in_behind_our_back(initiative_id: int) -> None:
    """As the organiser's submission would, committed on another connection."""
    with db.engine.begin() as other:
        other.execute(
            sa.update(Initiative)
            .where(Initiative.id == initiative_id)
            .values(state="submitted", submitted_at=sa.func.now())
        )


def wait_for_lock_waiters(
    connection: sa.Connection, n: int, unless: Callable[[], bool] = lambda: False
) -> None:
    """Until ``n`` other sessions of this database wait for a row lock (at most 60 s), or
    ``unless()`` is true."""
    import time

    deadline = time.monotonic() + 60
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while connection.execute(query).scalar_one() < n and not unless():
        connection.rollback()  # the activity view is a snapshot per transaction
        assert time.monotonic() < deadline, "the requests never reached the lock"
        time.sleep(0.05)


def while_held(
    app, hold: Callable[[sa.orm.Session], None], act: Callable[[], object]
) -> list[object]:
    """Run ``act`` (an organiser's action, in its own app context and transaction) while
    another transaction holds what ``hold`` wrote; that one commits once ``act`` waits
    on it.  What ``act`` was told: what it returned, a refusal's message, or the name of
    any other error."""
    from initiatives.lifecycle import TransitionError

    outcome: list[object] = []

    def run() -> None:
        with app.app_context():
            try:
                result = act()
                db.session.commit()
                outcome.append(result)
            except TransitionError as exc:
                db.session.rollback()
                outcome.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - reported in the outcome
                db.session.rollback()
                outcome.append(type(exc).__name__)

    with app.app_context(), sa.orm.Session(db.engine) as first, db.engine.connect() as watcher:
        hold(first)
        first.flush()
        thread = threading.Thread(target=run)
        thread.start()
        wait_for_lock_waiters(watcher, 1)
        first.commit()
    thread.join(timeout=120)
    return outcome
