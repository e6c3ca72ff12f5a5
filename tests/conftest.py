"""Shared fixtures: an app per test on SQLite and on PostgreSQL, a real SMTP server on
loopback, and factories for initiatives and signatures.

In CI (``CI=true``) nothing may be skipped: a missing PostgreSQL or Chromium fails.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import FileSystemBytecodeCache

from initiatives import clock, create_app
from initiatives.extensions import db
from initiatives.models import Initiative, InitiativeState, InitiativeText, SignatureState

from .privacy_support import BOT, PERSON, Spec, add_signatures, spread
from .smtp import SMTPServer

CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# A fixed test key (never used outside tests): 32 bytes, URL-safe base64.
TEST_DATA_KEY = "dGVzdC1kYXRhLWtleS1mb3ItdGVzdHMtb25seS0zMmI="
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
ARTIFACTS = Path(__file__).parent / "artifacts"


def skip_or_fail(reason: str) -> None:
    """Locally a missing service skips with a message; in CI it is a failure."""
    if CI:
        pytest.fail(f"{reason} (CI=true: this may not be skipped)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests write screenshots and renders for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- PostgreSQL ----------------------------------------------------------------------------


def _admin_connect() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        with _admin_connect():
            pass
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    return PG_ADMIN_URL


def create_pg_database(admin_url: str) -> str:
    """A new, empty database of our own; returns its URL."""
    name = f"initiatives_test_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with _admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_schema_database(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database for the session with the models' tables; emptied between tests."""
    url = create_pg_database(pg_server)
    app = create_app(_test_config(url, tmp_path_factory.mktemp("pg-instance")))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    yield url
    drop_pg_database(url)


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (migration tests)."""
    url = create_pg_database(pg_server)
    yield url
    drop_pg_database(url)


def _truncate_all(url: str) -> None:
    """Empty every table and start every id sequence again at 1.

    DELETE, children first, in one transaction: a test leaves a handful of rows, and
    TRUNCATE's new files cost about 0.1 s a test (more than many tests themselves).
    """
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(f'DELETE FROM "{table.name}"')
        sequences = conn.execute(
            "SELECT quote_ident(sequence_name) FROM information_schema.sequences"
            " WHERE sequence_schema = 'public'"
        ).fetchall()
        for (sequence,) in sequences:
            conn.execute(f"ALTER SEQUENCE {sequence} RESTART")


# --- SMTP --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer("127.0.0.1", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_prefix() -> Iterator[tuple[redis.Redis, str]]:
    """The shared Redis and a key prefix of this test's own, removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        skip_or_fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    prefix = f"initiatives-test-{uuid.uuid4().hex[:10]}"
    yield client, prefix
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def smtp(smtp_server: SMTPServer) -> SMTPServer:
    """The real SMTP server on loopback, emptied for this test."""
    smtp_server.clear()
    return smtp_server


# --- the app -------------------------------------------------------------------------------


def _test_config(database_url: str, instance: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "APP_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATA_KEY": TEST_DATA_KEY,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "BASE_URL": "http://localhost",
        "RATELIMIT_ENABLED": False,
        "MAIL_FROM": "Malmöinitiativ <noreply@example.org>",
        "SMTP_URL": "",
        # Argon2id with the least memory and one pass: hundreds of logins a run at the real
        # cost (64 MiB, 3 passes; ~0.3 s each here) took minutes.  test_passwords.py checks
        # the default.
        "PASSWORD_HASH_PROFILE": "CHEAPEST",
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session", autouse=True)
def _templates_compiled_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every app of a test process shares Jinja's bytecode cache.

    Each test builds its own app, whose Jinja environment compiled every template it
    rendered again: about a quarter of the suite's time.  The cache is keyed by each
    template's source, so an edited template is compiled afresh.
    """
    cache = FileSystemBytecodeCache(str(tmp_path_factory.mktemp("jinja-bytecode")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "jinja_options", {**Flask.jinja_options, "bytecode_cache": cache})
        yield


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    url = request.getfixturevalue("pg_schema_database")
    _truncate_all(url)
    return url


@pytest.fixture
def make_app(database_url: str, tmp_path: Path, smtp: SMTPServer) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's database; keyword arguments override the config."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        overrides.setdefault("SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")
        app = create_app(_test_config(database_url, tmp_path / "instance", **overrides))
        with app.app_context():
            db.create_all()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- factories -------------------------------------------------------------------------------


def create_initiative(
    app: Flask,
    slug: str = "amiralsgatan",
    *,
    state: InitiativeState = InitiativeState.COLLECTING,
    threshold: int = 100,
    texts: dict[str, dict[str, str]] | None = None,
    opens_days_ago: int = 1,
    closes_in_days: int = 90,
    **fields: Any,
) -> Initiative:
    """Create an initiative (collecting by default), committed and detached."""
    texts = texts or {
        "sv": {
            "title": "Tryggare Amiralsgatan",
            "summary": "Säkra övergångar och en egen cykelbana.",
            "body": "Vi föreslår att Tekniska nämnden bygger säkra övergångar.",
        }
    }
    now = clock.utcnow()
    with app.app_context():
        initiative = Initiative(
            slug=slug,
            state=state,
            threshold=threshold,
            opens_at=now - timedelta(days=opens_days_ago),
            closes_at=now + timedelta(days=closes_in_days),
            **fields,
        )
        for locale, text in texts.items():
            initiative.texts.append(InitiativeText(locale=locale, **text))
        initiative.text_hash = initiative.compute_text_hash()
        db.session.add(initiative)
        db.session.commit()
        db.session.refresh(initiative)
        db.session.expunge(initiative)
        return initiative


@pytest.fixture
def make_initiative(app: Flask) -> Callable[..., Initiative]:
    """``create_initiative`` bound to this test's app."""

    def factory(slug: str = "amiralsgatan", **kwargs: Any) -> Initiative:
        return create_initiative(app, slug, **kwargs)

    return factory


@pytest.fixture
def burst_campaign(app: Flask, make_initiative: Callable[..., Initiative]) -> dict[str, list[int]]:
    """Six people spread over hours, and a bot's burst of twelve from one client (a third
    of it pending): the signature ids of each, and of the bot's pending ones."""
    make_initiative()
    people = add_signatures(
        app,
        "amiralsgatan",
        [Spec(f"person{i}@example.org", f"Person {i}", client_hash=PERSON) for i in range(6)],
    )
    spread(app, people, minutes=30)
    bot = add_signatures(
        app,
        "amiralsgatan",
        [
            Spec(
                f"x{i}@mailbot.example",
                f"Bot {i}",
                client_hash=BOT,
                state=SignatureState.PENDING if i % 3 == 0 else SignatureState.CONFIRMED,
            )
            for i in range(12)
        ],
    )
    return {"people": people, "bot": bot, "bot_pending": bot[::3]}


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


TEXT_VERSION_RE = re.compile(r'name="text_version" type="hidden" value="([0-9a-f]{64})"')


def shown_text_version(page: str) -> str:
    """The text version a sign form says it showed (its hidden ``text_version``)."""
    found = TEXT_VERSION_RE.search(page)
    assert found is not None, "no text_version in the form"
    return found.group(1)


def correct_the_text(app: Flask, shown: str) -> str:
    """An organiser corrects the Swedish text of the one initiative, whose text version
    was ``shown``: the corrected version."""
    from initiatives import texts

    with app.app_context():
        initiative = db.session.scalars(db.select(Initiative)).one()
        assert shown == initiative.text_hash
        texts.amend(initiative, "t", "sv", title="Rättad", summary="S", body="B", note="Stavfel")
        db.session.commit()
        return initiative.text_hash


def csrf_token(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({response.status_code})"
    return match.group(1)


def sign_form(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Amira Hassan",
        "email": "amira@example.org",
        "postcode": "212 14",
        "resident": "y",
        "consent": "y",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def sign(client: FlaskClient) -> Callable[..., Any]:
    """Sign as a person would: load the page, take the CSRF token, post the form."""

    def do_sign(
        slug: str = "amiralsgatan",
        *,
        who: FlaskClient | None = None,
        src: str | None = None,
        **fields: Any,
    ) -> Any:
        browser = who or client
        page = f"/i/{slug}" + (f"?src={src}" if src else "")
        data = sign_form(**fields)
        data["csrf_token"] = csrf_token(browser, page)
        if src:
            data.setdefault("src", src)
        return browser.post(f"/i/{slug}/sign", data=data)

    return do_sign


@pytest.fixture
def a_minute_later(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Move the clock on past SIGN_AGAIN_QUIET_SECONDS (each call once more): signing
    again then sends a new link, as a signer who waited for the first one would."""
    real = clock.utcnow
    offset = timedelta()

    def wait() -> None:
        nonlocal offset
        offset += timedelta(seconds=app.config["SIGN_AGAIN_QUIET_SECONDS"] + 1)
        moved = offset
        monkeypatch.setattr(clock, "utcnow", lambda: real() + moved)

    return wait


@pytest.fixture
def deliver(app: Flask) -> Callable[[], Any]:
    """Run the outbox once, as ``flask outbox send`` would."""
    from initiatives import outbox
    from initiatives.mail import compose

    def run() -> Any:
        with app.app_context():
            return outbox.deliver_due(app, compose)

    return run


LINK_RE = re.compile(r"https?://[^\s<>\"]+")


def links_in(message: EmailMessage) -> list[str]:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return LINK_RE.findall(body.get_content())


def link_path(url: str) -> str:
    """The path of a link in an email (the test client talks to the app directly)."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]
