"""Configuration: defaults, then ``instance/config.py``, then the environment.

Every setting an operator may change is listed in ``DEFAULTS`` and documented in
README.md.  Values from the environment are converted to the type of their default.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ENVIRONMENTS = ("production", "development", "testing")

DEFAULTS: dict[str, Any] = {
    # production | development | testing.  Only development shows the mailbox page and
    # may run with generated keys.
    "APP_ENV": "production",
    "SECRET_KEY": "",
    # Fernet key(s) for personal data, comma-separated; the first encrypts, all decrypt.
    "DATA_KEY": "",
    "DATABASE_URL": "",
    "SMTP_URL": "",
    "MAIL_FROM": "Malmöinitiativ Rosengård <noreply@localhost>",
    "BASE_URL": "http://127.0.0.1:5000",
    "REDIS_URL": "",
    "RATELIMIT_ENABLED": True,
    # Prefix of this site's rate-limit keys in Redis, for a Redis shared with others.
    "RATELIMIT_KEY_PREFIX": "",
    # Days a confirmation link stays valid; unconfirmed signatures expire after this.
    "CONFIRM_DAYS": 7,
    # Mails of one kind to one address per initiative per day (re-signing sends a new link).
    "MAILS_PER_ADDRESS_PER_DAY": 3,
    # Limits per client address (Flask-Limiter syntax).
    "SIGN_RATE_LIMIT": "20 per minute;200 per hour",
    "CONFIRM_RATE_LIMIT": "30 per minute",
    # Largest request body in bytes; larger ones get 413.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto.
    "TRUSTED_PROXIES": 0,
    # Seconds each worker process may serve public pages and counts from memory
    # (public_cache.py); 0 turns that off.
    "PUBLIC_CACHE_SECONDS": 2.0,
    "OUTBOX_POLL_SECONDS": 1.0,
    "OUTBOX_BATCH_SIZE": 100,
    "OUTBOX_MAX_ATTEMPTS": 12,
    "ORGANISATION_NAME": "Rosengård Samverkan",
    "ORGANISATION_EMAIL": "kontakt@example.org",
    "LOG_LEVEL": "INFO",
}

MIN_SECRET_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says what to set."""


def _convert(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def from_environment(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The known settings present in the environment, converted to their types."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        if key in environ:
            try:
                found[key] = _convert(environ[key], default)
            except ValueError as exc:
                raise ConfigError(f"{key}={environ[key]!r} is not a valid value: {exc}") from exc
    return found


def data_keys(value: str) -> list[str]:
    """Split and check DATA_KEY: one or more Fernet keys, the current one first."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    for key in keys:
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ConfigError(
                "DATA_KEY must be 32 random bytes in URL-safe base64 (a Fernet key); "
                "make one with `flask --app initiatives generate-data-key`."
            )
    return keys


def _development_keys(instance_path: Path) -> dict[str, str]:
    """Keys for a newcomer's machine, made once and kept in instance/ (git-ignored)."""
    path = instance_path / "dev-keys.json"
    if path.exists():
        return json.loads(path.read_text("utf-8"))
    keys = {"SECRET_KEY": secrets.token_urlsafe(48), "DATA_KEY": Fernet.generate_key().decode()}
    instance_path.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys), "utf-8")
    path.chmod(0o600)
    return keys


def finalise(config: dict[str, Any], instance_path: Path) -> None:
    """Fill derived settings and refuse configurations that are unsafe to run."""
    env = config["APP_ENV"]
    if env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    if env == "development" and (not config["SECRET_KEY"] or not config["DATA_KEY"]):
        generated = _development_keys(instance_path)
        config["SECRET_KEY"] = config["SECRET_KEY"] or generated["SECRET_KEY"]
        config["DATA_KEY"] = config["DATA_KEY"] or generated["DATA_KEY"]
    if env == "production":
        if len(config["SECRET_KEY"] or "") < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"SECRET_KEY must be set to a random string of at least {MIN_SECRET_KEY_LENGTH} "
                f"characters, for example this freshly made one: {secrets.token_urlsafe(48)}"
            )
        if not config["DATA_KEY"]:
            raise ConfigError(
                "DATA_KEY must be set (it encrypts signers' personal data and must differ "
                "from SECRET_KEY), for example to this freshly made one: "
                f"{Fernet.generate_key().decode()}"
            )
        if config["DATA_KEY"] == config["SECRET_KEY"]:
            raise ConfigError("DATA_KEY must not be the same as SECRET_KEY.")
    config["DATA_KEYS"] = data_keys(config["DATA_KEY"])

    url = config["DATABASE_URL"] or f"sqlite:///{instance_path / 'initiatives.sqlite3'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not (url.startswith("sqlite:") or url.startswith("postgresql+psycopg://")):
        raise ConfigError(
            "DATABASE_URL must be a PostgreSQL URL (postgresql://user@host/db) or a SQLite "
            f"URL (sqlite:///path); got a URL starting {url.split(':', 1)[0]!r}."
        )
    config["SQLALCHEMY_DATABASE_URI"] = url

    secure = config["BASE_URL"].startswith("https://")
    config["SESSION_COOKIE_SECURE"] = secure
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_NAME"] = "initiatives_session"
    config["PREFERRED_URL_SCHEME"] = "https" if secure else "http"
    # The sign form may stay open on a phone for a long time; the token lives with the
    # session instead of expiring after an hour.
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"] or "memory://"
