"""Configuration: fail fast and say what to set; health checks the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from initiatives import create_app
from initiatives.config import ConfigError, from_environment

from .conftest import TEST_DATA_KEY, TEST_SECRET_KEY


def production(tmp_path: Path, **overrides):
    config = {
        "APP_ENV": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATA_KEY": TEST_DATA_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "INSTANCE_PATH": str(tmp_path),
        "BASE_URL": "https://initiativ.example.org",
        "SMTP_URL": "smtp://mail.example.org:587?starttls=1",
        "ORGANISATION_EMAIL": "kontakt@rosengard.example.org",
    }
    config.update(overrides)
    return create_app(config)


def test_production_refuses_to_start_without_a_way_to_send_mail(tmp_path):
    """Signatures would be taken whose confirmation links never leave the outbox."""
    with pytest.raises(ConfigError, match="SMTP_URL must be set"):
        production(tmp_path, SMTP_URL="")


def test_production_refuses_to_build_links_to_localhost_by_default(tmp_path):
    """Without BASE_URL every confirmation link would point at 127.0.0.1."""
    from initiatives.config import DEFAULTS

    with pytest.raises(ConfigError, match="BASE_URL must be set"):
        production(tmp_path, BASE_URL=DEFAULTS["BASE_URL"])
    app = production(tmp_path)
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_secret_key_fallbacks_come_from_the_environment_as_a_list():
    found = from_environment({"SECRET_KEY_FALLBACKS": " old-one , older-one ,"})
    assert found["SECRET_KEY_FALLBACKS"] == ["old-one", "older-one"]


def test_production_refuses_a_missing_or_short_secret_key(tmp_path):
    for bad in ("", "short"):
        with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
            production(tmp_path, SECRET_KEY=bad)


def test_production_refuses_a_missing_or_malformed_data_key(tmp_path):
    with pytest.raises(ConfigError, match="DATA_KEY must be set"):
        production(tmp_path, DATA_KEY="")
    with pytest.raises(ConfigError, match="URL-safe base64"):
        production(tmp_path, DATA_KEY="not-a-key")
    with pytest.raises(ConfigError, match="must not be the same"):
        production(tmp_path, DATA_KEY=TEST_DATA_KEY, SECRET_KEY=TEST_DATA_KEY)
    # During a rotation DATA_KEY is a list, and SECRET_KEY may have fallbacks: no key of
    # the one may be a key of the other.
    other = Fernet.generate_key().decode()
    with pytest.raises(ConfigError, match="must not be the same"):
        production(tmp_path, DATA_KEY=f"{other},{TEST_DATA_KEY}", SECRET_KEY=TEST_DATA_KEY)
    with pytest.raises(ConfigError, match="must not be the same"):
        production(
            tmp_path,
            DATA_KEY=f" {TEST_DATA_KEY} ",
            SECRET_KEY="x" * 48,
            SECRET_KEY_FALLBACKS=[TEST_DATA_KEY],
        )


def test_production_refuses_an_unusable_database_url(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL must be a PostgreSQL URL"):
        production(tmp_path, DATABASE_URL="mysql://root@localhost/x")


def test_production_with_good_settings_starts_with_secure_cookies_behind_https(tmp_path):
    app = production(tmp_path, BASE_URL="https://initiativ.example.org")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert "devmail" not in app.blueprints


def test_postgres_urls_use_psycopg3(tmp_path):
    app = production(tmp_path, DATABASE_URL="postgres://u@db.example/x")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/x"


def test_development_generates_and_keeps_keys_in_instance(tmp_path):
    first = create_app({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    second = create_app({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert (tmp_path / "dev-keys.json").stat().st_mode & 0o077 == 0
    assert "devmail" in first.blueprints
    assert first.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


def test_environment_values_are_typed():
    found = from_environment(
        {"RATELIMIT_ENABLED": "false", "CONFIRM_DAYS": "5", "BASE_URL": "https://x", "OTHER": "1"}
    )
    assert found == {"RATELIMIT_ENABLED": False, "CONFIRM_DAYS": 5, "BASE_URL": "https://x"}
    with pytest.raises(ConfigError, match="CONFIRM_DAYS"):
        from_environment({"CONFIRM_DAYS": "seven"})


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "data_key": "ok"}


def test_healthz_reports_an_unreachable_database(tmp_path):
    app = production(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'missing-dir' / 'x' / 'db'}")
    (tmp_path / "missing-dir" / "x").rmdir()
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_a_base_url_that_would_make_mail_links_unusable_is_refused_at_start(tmp_path):
    """Without a scheme the links in every confirmation mail come out as
    ``//initiativ.example.org/confirm/…``, which mail programs do not open."""
    for bad in ("initiativ.example.org", "https//initiativ.example.org", "https://", "ftp://x.org"):
        with pytest.raises(ConfigError, match="BASE_URL"):
            production(tmp_path, BASE_URL=bad)
    app = production(tmp_path, BASE_URL="https://initiativ.example.org/rosengard/")
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_a_malformed_smtp_url_is_refused_at_start_not_when_the_worker_first_sends(tmp_path):
    for bad in ("mail.example.org:587", "smtp://mail.example.org:port", "http://mail.example.org"):
        with pytest.raises(ConfigError, match="SMTP_URL"):
            production(tmp_path, SMTP_URL=bad)
    production(tmp_path, SMTP_URL="smtp://user:p%40ss@mail.example.org:587?starttls=1")


def test_a_yes_no_setting_that_is_neither_is_refused_not_read_as_no():
    """``RATELIMIT_ENABLED=ture`` must not quietly switch every rate limit off."""
    assert from_environment({"RATELIMIT_ENABLED": " Off "}) == {"RATELIMIT_ENABLED": False}
    assert from_environment({"ORGANISATION_PUBLIC_SECTOR": "Yes"}) == {
        "ORGANISATION_PUBLIC_SECTOR": True
    }
    for typo in ("ture", "enabled", "2"):
        with pytest.raises(ConfigError, match="RATELIMIT_ENABLED"):
            from_environment({"RATELIMIT_ENABLED": typo})


def test_numbers_that_cannot_work_are_refused_at_start(tmp_path):
    """A batch of 0 mails left `outbox send` spinning for ever; 0 mails a day per address
    sent nobody a confirmation link; a negative poll made the worker crash when idle."""
    for key, bad in (
        ("OUTBOX_BATCH_SIZE", 0),
        ("OUTBOX_MAX_ATTEMPTS", 0),
        ("OUTBOX_POLL_SECONDS", -1.0),
        ("CONFIRM_DAYS", 0),
        ("MAILS_PER_ADDRESS_PER_DAY", 0),
        ("MAILS_PER_ADDRESS_PER_DAY_TOTAL", -3),
        ("DATA_REQUESTS_PER_ADDRESS_PER_DAY", 0),
        ("KIOSK_IDLE_SECONDS", 0),
        ("ADMIN_LOGIN_MAX_PER_ACCOUNT", 0),
        ("MAX_CONTENT_LENGTH", 0),
        ("TRUSTED_PROXIES", -1),
        ("PUBLIC_CACHE_SECONDS", -2.0),
    ):
        with pytest.raises(ConfigError, match=key):
            production(tmp_path, **{key: bad})
    # Zero where zero means "none" or "off" is fine.
    app = production(tmp_path, TRUSTED_PROXIES=0, PUBLIC_CACHE_SECONDS=0.0)
    assert app.config["PUBLIC_CACHE_SECONDS"] == 0


def test_a_sender_without_an_address_is_refused_at_start(tmp_path):
    """``MAIL_FROM="Malmöinitiativ Rosengård"`` (the name only) made every mail go out from
    ``<Malmöinitiativ>``, which SMTP servers refuse: no confirmation link would arrive."""
    for bad in ("Malmöinitiativ Rosengård", "Rosengård <noreply>", "Namn <nörepl@exämple.org>"):
        with pytest.raises(ConfigError, match="MAIL_FROM"):
            production(tmp_path, MAIL_FROM=bad)
    for good in ("Malmöinitiativ Rosengård <noreply@example.org>", "noreply@example.org"):
        production(tmp_path, MAIL_FROM=good)


def test_production_refuses_the_example_contact_address(tmp_path):
    """The contact is on every page, in every mail's Reply-To and on the posters."""
    with pytest.raises(ConfigError, match="ORGANISATION_EMAIL must be set"):
        production(tmp_path, ORGANISATION_EMAIL="kontakt@example.org")


@pytest.mark.parametrize("bad", ["kontakt", "Rosengård Samverkan", "kontakt@", "kö@exempel.se"])
def test_a_contact_that_is_not_an_address_stops_the_start(tmp_path, bad):
    with pytest.raises(ConfigError, match="ORGANISATION_EMAIL must be an email address"):
        production(tmp_path, ORGANISATION_EMAIL=bad)
