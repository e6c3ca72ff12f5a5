"""Encryption at rest: a database dump alone reveals no signer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.models import Signature

from .conftest import csrf_token, link_path, links_in, skip_or_fail

NAME = "Åsa Öberg-Nilsson"
EMAIL = "asa.oberg-nilsson@example.org"
POSTCODE = "212 14"
SECRETS = [NAME, "Öberg-Nilsson", EMAIL, "asa.oberg-nilsson", POSTCODE]


@pytest.fixture
def signed_and_confirmed(app, client, make_initiative, sign, deliver, smtp):
    """A signer who signed, confirmed, and got both mails; then a data report."""
    make_initiative()
    assert sign(name=NAME, email=EMAIL, postcode=POSTCODE).status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    path = link_path(next(u for u in links_in(mail) if "/confirm/" in u))
    token = csrf_token(client, path)
    assert client.post(path, data={"csrf_token": token}).status_code == 303
    deliver()
    smtp.wait_for(2)
    token = csrf_token(client, "/privacy/request")
    client.post("/privacy/request", data={"csrf_token": token, "email": EMAIL})
    with app.app_context():
        assert db.session.scalars(sa.select(Signature)).one().state == "confirmed"
        db.session.remove()
        db.engine.dispose()


def assert_clean(dump: bytes, where: str) -> None:
    for secret in SECRETS:
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in dump, f"{secret!r} in clear in {where}"
        assert secret.casefold().encode() not in dump.lower(), f"{secret!r} in {where}"


def test_a_database_dump_reveals_no_signer(signed_and_confirmed, backend, database_url):
    if backend == "sqlite":
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
        assert path in files
        everything = b""
        for file in files:  # the database, its write-ahead log and shared memory
            everything += file.read_bytes()
            assert_clean(file.read_bytes(), file.name)
        assert b"Tryggare Amiralsgatan" in everything  # the dump is readable: public text is
        return

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        assert "signatures" in tables and "outbox_messages" in tables
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            assert_clean(repr(rows).encode(), f"table {table}")
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        skip_or_fail("pg_dump is not installed (Debian package postgresql-client)")
    dump = subprocess.run(
        [pg_dump, "--no-owner", "--data-only", url], capture_output=True, check=True, timeout=120
    ).stdout
    assert b"COPY public.signatures" in dump and b"Tryggare Amiralsgatan" in dump
    assert_clean(dump, "pg_dump")


def test_client_addresses_are_kept_only_as_a_daily_keyed_hash(
    make_app, make_initiative, sign, monkeypatch
):
    from datetime import timedelta

    from initiatives import clock
    from initiatives.extensions import limiter

    app = make_app(TRUSTED_PROXIES=1, RATELIMIT_ENABLED=True)
    make_initiative()
    client = app.test_client()
    behind_proxy = {"X-Forwarded-For": "203.0.113.5"}
    client.environ_base["HTTP_X_FORWARDED_FOR"] = behind_proxy["X-Forwarded-For"]
    sign(who=client, email="one@example.org")
    sign(who=client, email="two@example.org")
    tomorrow = clock.utcnow() + timedelta(days=1)
    monkeypatch.setattr(clock, "utcnow", lambda: tomorrow)
    sign(who=client, email="three@example.org")
    with app.app_context():
        hashes = db.session.scalars(sa.select(Signature.client_hash).order_by(Signature.id)).all()
    assert all(h and len(h) == 64 and "203.0.113" not in h for h in hashes)
    assert hashes[0] == hashes[1] != hashes[2]  # the same client today; unlinkable tomorrow
    # The rate limiter's counters are keyed by a hash too, never by the address.
    counters = " ".join(str(k) for k in limiter.storage.storage)
    assert "sign" in counters and "203.0.113.5" not in counters and "127.0.0.1" not in counters
