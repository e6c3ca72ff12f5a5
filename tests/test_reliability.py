"""Faults against real servers on loopback: SMTP down while people sign, and a
PostgreSQL server restarted under load.  (Two confirmations of one token at once are
in test_concurrency_signing.py.)
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from initiatives import clock, create_app, outbox
from initiatives.extensions import db
from initiatives.mail import compose
from initiatives.models import Initiative, OutboxMessage, Signature

from .conftest import (
    _test_config,
    create_initiative,
    csrf_token,
    free_port,
    link_path,
    links_in,
    sign_form,
    skip_or_fail,
)
from .pg_private import PrivatePostgres, find_bindir
from .smtp import SMTPServer


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


class Worker:
    """The outbox worker (`flask outbox work`) in a thread of its own."""

    def __init__(self, app: Flask):
        self.app = app
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.app.app_context():
            outbox.work(self.app, compose, should_stop=self.stopping.is_set)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def scalar(app: Flask, stmt: sa.Select) -> int:
    with app.app_context():
        return db.session.scalar(stmt) or 0


def test_smtp_down_while_people_sign_then_every_mail_arrives_once(
    make_app, make_initiative, monkeypatch
):
    port = free_port()  # the mail server that is down
    app = make_app(SMTP_URL=f"smtp://127.0.0.1:{port}", OUTBOX_POLL_SECONDS=0.05)
    make_initiative()
    # The worker's pause after finding the server down, in real seconds.
    monkeypatch.setattr(outbox, "SERVER_PAUSE", timedelta(seconds=5))
    offset = {"now": timedelta(0)}
    real_utcnow = clock.utcnow
    monkeypatch.setattr(clock, "utcnow", lambda: real_utcnow() + offset["now"])
    people = [f"person{i}@example.org" for i in range(8)]
    tried = sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.attempts >= 1)

    def sign_up(email: str) -> None:
        browser = app.test_client()
        data = sign_form(email=email, name=f"Person {email[6]}")
        data["csrf_token"] = csrf_token(browser, "/i/amiralsgatan")
        assert browser.post("/i/amiralsgatan/sign", data=data).status_code == 303

    with Worker(app):
        # The worker tries the first mail, finds the server down, and pauses.
        sign_up(people[0])
        wait_until(lambda: scalar(app, tried) == 1, what="a delivery attempt")
        paused_at = time.monotonic()
        for email in people[1:]:
            sign_up(email)
        # Mail queued during the pause waits for it, rather than each finding the
        # server down (and spending an attempt) on its own.
        assert time.monotonic() - paused_at < 3.5, "signing took too long to tell"
        time.sleep(1)  # twenty of the worker's polls, well within its pause
        assert scalar(app, tried) == 1
        assert scalar(app, sa.select(sa.func.count(Signature.id))) == len(people)
        pending = sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.status == "pending"
        )
        assert scalar(app, pending) == len(people)

        # The mail server comes back; after the backoff everything goes out.
        server = SMTPServer("127.0.0.1", port)
        server.start()
        try:
            offset["now"] = timedelta(hours=7)  # past the longest backoff
            mails = server.wait_for(len(people), timeout=30)
            assert sorted(str(m["To"]) for m in mails) == sorted(people)

            # Everyone confirms from the link in their mail; thank-you mails follow.
            for mail in mails:
                path = link_path(next(u for u in links_in(mail) if "/confirm/" in u))
                browser = app.test_client()
                token = csrf_token(browser, path)
                assert browser.post(path, data={"csrf_token": token}).status_code == 303
            all_mail = server.wait_for(2 * len(people), timeout=30)
        finally:
            server.stop()
    assert Counter(str(m["To"]) for m in all_mail) == {p: 2 for p in people}
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == len(people)
        statuses = db.session.scalars(sa.select(OutboxMessage.status)).all()
        assert set(statuses) == {"sent"}


# --- PostgreSQL restarted mid-run ---------------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = find_bindir()
    if bindir is None:
        skip_or_fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PrivatePostgres(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


class Signer(threading.Thread):
    """One browser signing with fresh addresses until told to stop."""

    def __init__(self, app: Flask, number: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.client = app.test_client()
        self.number = number
        self.stop_event = stop
        self.results: list[tuple[str, int, str]] = []
        self.csrf = csrf_token(self.client, "/i/amiralsgatan")

    def run(self) -> None:
        i = 0
        while not self.stop_event.is_set():
            email = f"s{self.number}-{i}@example.org"
            data = {**sign_form(email=email), "csrf_token": self.csrf}
            response = self.client.post("/i/amiralsgatan/sign", data=data)
            self.results.append((email, response.status_code, response.get_data(as_text=True)))
            i += 1
            time.sleep(0.01)

    def successes(self) -> int:
        return sum(1 for _e, status, _b in self.results if status == 303)


def test_postgres_restarted_mid_run_recovers_without_an_app_restart(
    private_postgres: PrivatePostgres, tmp_path, smtp
):
    url = private_postgres.url
    app = create_app(_test_config(url, tmp_path / "instance", SMTP_URL=smtp.url))
    with app.app_context():
        db.create_all()
    create_initiative(app)
    stop = threading.Event()
    signers = [Signer(app, n, stop) for n in range(4)]

    with Worker(app):
        for signer in signers:
            signer.start()
        wait_until(lambda: all(s.successes() >= 3 for s in signers), what="signing before")
        private_postgres.stop("fast")  # cuts the connections of requests in flight
        time.sleep(1.0)
        during = app.test_client().get("/healthz")
        assert during.status_code == 503
        private_postgres.start()
        before = [len(s.results) for s in signers]
        wait_until(
            lambda: all(
                sum(1 for _e, st, _b in s.results[n:] if st == 303) >= 3
                for s, n in zip(signers, before, strict=True)
            ),
            timeout=60,
            what="signing after the restart",
        )
        stop.set()
        for signer in signers:
            signer.join(timeout=30)
        assert app.test_client().get("/healthz").status_code == 200

        results = [r for s in signers for r in s.results]
        statuses = Counter(status for _e, status, _b in results)
        assert set(statuses) <= {303, 503}, statuses
        assert statuses[503] >= 1, "the outage was never seen"
        for _email, status, body in results:
            if status == 503:
                assert "Tjänsten är tillfälligt otillgänglig" in body
                assert "Traceback" not in body and "psycopg" not in body

        with app.app_context():
            rows = db.session.execute(sa.select(Signature.id, Signature.email_index)).all()
            mails = Counter(
                db.session.scalars(
                    sa.select(OutboxMessage.signature_id).where(OutboxMessage.kind == "confirm")
                )
            )
            from initiatives.crypto import crypto

            stored = {r.email_index for r in rows}
            for email, status, _body in results:
                if status == 303:  # acknowledged: stored exactly once
                    assert crypto().email_index(email) in stored, email
            # Never half-stored: every signature has its confirmation mail, exactly one.
            assert all(mails[r.id] == 1 for r in rows)
            initiative = db.session.scalars(sa.select(Initiative)).one()
            assert initiative.confirmed_count == 0  # nobody confirmed; nothing counted wrongly
        # The worker recovered too: every stored signature's mail arrives.
        smtp.wait_for(len(rows), timeout=60)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
