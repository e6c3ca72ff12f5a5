"""Several app instances on one PostgreSQL database and one Redis: the production topology.

Two gunicorn instances on different loopback ports (as behind a reverse proxy that does
not pin a visitor to one of them), two ``flask outbox work`` processes, one database,
one Redis for rate limits (a key prefix of this test run's own), and a real SMTP server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import pytest
import sqlalchemy as sa

from initiatives import clock, config, create_app, signature_states, signatures
from initiatives.extensions import db
from initiatives.models import (
    Initiative,
    InitiativeState,
    InitiativeText,
    OutboxMessage,
    OutboxStatus,
)

from .conftest import (
    TEST_DATA_KEY,
    TEST_SECRET_KEY,
    create_pg_database,
    drop_pg_database,
    free_port,
    link_path,
    links_in,
    skip_or_fail,
)
from .smtp import SMTPServer

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SIGN_LIMIT = 4
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 - urllib's signature
        return None


class Visitor:
    """A browser: one cookie jar, free to talk to either instance."""

    def __init__(self) -> None:
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), NoRedirect())

    def request(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str, dict]:
        data = urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(Request(url, data=data), timeout=30) as response:  # noqa: S310
                return response.status, response.read().decode(), dict(response.headers)
        except HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)

    def token(self, url: str) -> str:
        status, html, _ = self.request(url)
        assert status == 200, url
        match = CSRF_RE.search(html)
        assert match, f"no CSRF token on {url}"
        return match.group(1)


@dataclass
class Topology:
    urls: list[str]
    env: dict[str, str]
    database_url: str
    key_prefix: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    @contextmanager
    def database(self) -> Iterator[None]:
        """An app context on the shared database, as a third process would have."""
        settings = config.from_environment(self.env)
        settings["INSTANCE_PATH"] = self.env["INSTANCE_PATH"]
        app = create_app(settings)
        with app.app_context():
            try:
                yield
            finally:
                db.session.remove()
                db.engine.dispose()

    def reset_rate_limits(self) -> None:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"*{self.key_prefix}*"):
            client.delete(key)


def _wait_until_serving(url: str, process: subprocess.Popen) -> None:
    visitor = Visitor()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"instance at {url} exited"
        try:
            if visitor.request(f"{url}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"instance at {url} did not start")


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.exceptions.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture(scope="module")
def topology(
    pg_server: str,
    redis_url: str,
    smtp_server: SMTPServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Topology]:
    database_url = create_pg_database(pg_server)
    ports = [free_port(), free_port()]
    prefix = f"initiatives-test-{uuid.uuid4().hex[:12]}"
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATA_KEY": TEST_DATA_KEY,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RATELIMIT_KEY_PREFIX": prefix,
        "SIGN_RATE_LIMIT": f"{SIGN_LIMIT} per minute",
        "SMTP_URL": smtp_server.url,
        "BASE_URL": f"http://127.0.0.1:{ports[0]}",
        "ORGANISATION_EMAIL": "kontakt@rosengard.example.org",
        "INSTANCE_PATH": str(tmp_path_factory.mktemp("scaleout-instance")),
        "OUTBOX_POLL_SECONDS": "0.05",
        "OUTBOX_BATCH_SIZE": "5",
        "LOG_LEVEL": "WARNING",
    }
    full_env = {**os.environ, **env}
    topology = Topology([f"http://127.0.0.1:{p}" for p in ports], env, database_url, prefix)
    bin_dir = Path(sys.executable).parent
    try:
        subprocess.run(
            [str(bin_dir / "flask"), "--app", "initiatives", "db", "upgrade"],
            cwd=ROOT,
            env=full_env,
            check=True,
            capture_output=True,
        )
        for port in ports:
            topology.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "2"]
                    + ["--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                    cwd=ROOT,
                    env=full_env,
                )
            )
        for _ in range(2):
            topology.processes.append(
                subprocess.Popen(
                    [str(bin_dir / "flask"), "--app", "initiatives", "outbox", "work"],
                    cwd=ROOT,
                    env=full_env,
                )
            )
        for url, process in zip(topology.urls, topology.processes, strict=False):
            _wait_until_serving(url, process)
        with topology.database():
            make_collecting_initiative()
        yield topology
    finally:
        for process in topology.processes:
            process.terminate()
        for process in topology.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        topology.reset_rate_limits()
        drop_pg_database(database_url)


def make_collecting_initiative() -> None:
    initiative = Initiative(
        slug="amiralsgatan",
        state=InitiativeState.COLLECTING,
        opens_at=clock.utcnow() - timedelta(days=1),
        closes_at=clock.utcnow() + timedelta(days=90),
    )
    initiative.texts.append(
        InitiativeText(locale="sv", title="Tryggare Amiralsgatan", summary="", body="")
    )
    initiative.text_hash = initiative.compute_text_hash()
    db.session.add(initiative)
    db.session.commit()


def mail_to(smtp: SMTPServer, address: str, timeout: float = 30) -> EmailMessage:
    """The first mail to ``address``, waiting for it (mail of earlier tests may trail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = smtp.to(address)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no mail to {address}")


def sign_form(token: str, email: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": "Yasmin Haddad",
        "email": email,
        "resident": "y",
        "consent": "y",
    }


def test_rate_limits_hold_across_instances(topology: Topology) -> None:
    """Per-address limits are counted in Redis: switching instance does not reset them."""
    topology.reset_rate_limits()
    first, second = topology.urls
    visitor = Visitor()
    token = visitor.token(f"{first}/i/amiralsgatan")
    statuses = []
    for n in range(SIGN_LIMIT + 2):
        url = (first, second)[n % 2]
        form = sign_form(token, f"limit{n}@example.org")
        statuses.append(visitor.request(f"{url}/i/amiralsgatan/sign", form)[0])
    # Each instance alone saw only half of the attempts: with per-process counters
    # neither would refuse any of them.
    assert statuses == [303] * SIGN_LIMIT + [429, 429]


def test_a_visitor_may_move_between_instances(topology: Topology, smtp: SMTPServer) -> None:
    """Form tokens, confirmation links and counts work whichever instance answers."""
    topology.reset_rate_limits()
    first, second = topology.urls
    visitor = Visitor()
    with topology.database():
        initiative_id = db.session.scalars(sa.select(Initiative.id)).one()
        before = signature_states.confirmed_count(initiative_id)

    # The page comes from one instance, the POST goes to the other.
    token = visitor.token(f"{first}/i/amiralsgatan")
    status, _, headers = visitor.request(
        f"{second}/i/amiralsgatan/sign", sign_form(token, "yasmin@example.org")
    )
    assert status == 303 and headers["Location"].endswith("/i/amiralsgatan/thanks")

    # A worker delivers the mail; its link opens on one instance and confirms on the other.
    mail = mail_to(smtp, "yasmin@example.org")
    confirm = link_path(next(u for u in links_in(mail) if "/confirm/" in u))
    button_token = visitor.token(f"{second}{confirm}")
    status, _, headers = visitor.request(f"{first}{confirm}", {"csrf_token": button_token})
    assert status == 303
    status, html, _ = visitor.request(f"{second}{confirm}")
    assert status == 200 and "Din underskrift räknas" in html

    with topology.database():
        assert signature_states.confirmed_count(initiative_id) == before + 1
    # Each instance may serve its count from memory for PUBLIC_CACHE_SECONDS; then both
    # show the confirmation.
    expected = before + 1
    deadline = time.monotonic() + 30
    shown = []
    while time.monotonic() < deadline:
        shown = [
            int(re.search(r'"confirmed":\s*(\d+)', visitor.request(f"{url}/api/initiatives")[1])[1])
            for url in topology.urls
        ]
        if shown == [expected, expected]:
            break
        time.sleep(0.2)
    assert shown == [expected, expected]


def test_two_outbox_workers_share_the_queue_without_sending_twice(
    topology: Topology, smtp: SMTPServer
) -> None:
    """Both worker processes poll the same queue; every mail goes out exactly once."""
    count = 150
    with topology.database():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        last = db.session.scalar(sa.select(sa.func.max(OutboxMessage.id))) or 0
        # One commit: all the mail becomes due at once, while both workers poll.
        for n in range(count):
            signatures.sign(initiative, name="Köbarn", email=f"queue{n}@example.org", locale="sv")
        db.session.commit()
        queued = set(db.session.scalars(sa.select(OutboxMessage.id).where(OutboxMessage.id > last)))
    assert len(queued) == count

    def delivered() -> list[int]:
        return [int(m["X-Outbox-Id"]) for m in list(smtp.messages) if "queue" in str(m["To"])]

    deadline = time.monotonic() + 60
    while len(delivered()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)  # let any duplicate that is still on its way arrive as well
    ids = delivered()
    assert sorted(ids) == sorted(queued)  # each once: no duplicate, none missing
    with topology.database():
        statuses = db.session.scalars(
            sa.select(OutboxMessage.status).where(OutboxMessage.id.in_(queued))
        ).all()
    assert statuses == [OutboxStatus.SENT] * count
