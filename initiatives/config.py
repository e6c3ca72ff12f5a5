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
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from . import sendlimit, transports

ENVIRONMENTS = ("production", "development", "testing")

DEFAULTS: dict[str, Any] = {
    # production | development | testing.  Only development shows the mailbox page and
    # may run with generated keys.
    "APP_ENV": "production",
    "SECRET_KEY": "",
    # Earlier SECRET_KEYs, comma-separated, while rotating it: they still open sessions,
    # confirmation and withdrawal links and tablets' cookies; only SECRET_KEY signs.
    "SECRET_KEY_FALLBACKS": [],
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
    # Seconds after a pending signature's link was queued during which signing it again
    # queues no new one (a double-tapped button would send two working links).
    "SIGN_AGAIN_QUIET_SECONDS": 60,
    # Limits per client address (Flask-Limiter syntax).
    "SIGN_RATE_LIMIT": "20 per minute;200 per hour",
    "CONFIRM_RATE_LIMIT": "30 per minute",
    # Stand tablets: limits per enrolled device (a stand is one address behind mobile NAT,
    # so per-address limits would block it), PIN tries per device, enrolment tries per
    # address; seconds before an idle form warns and then empties (longer while the
    # signer has the whole proposal open, reading), before the thank-you screen returns
    # to the start, and between sends of the offline queue.
    "KIOSK_RATE_LIMIT": "12 per minute;600 per hour",
    "KIOSK_PIN_RATE_LIMIT": "5 per 5 minutes",
    "KIOSK_ENROL_RATE_LIMIT": "10 per 10 minutes",
    "KIOSK_IDLE_SECONDS": 60,
    "KIOSK_IDLE_WARNING_SECONDS": 15,
    "KIOSK_READING_IDLE_SECONDS": 180,
    "KIOSK_THANKS_SECONDS": 8,
    "KIOSK_FLUSH_SECONDS": 30,
    # Hours after the collection ended that a signature a tablet took before the end (and
    # queued while offline) is still taken.
    "KIOSK_LATE_HOURS": 72,
    # Days a signature may wait in a tablet's offline queue: older entries are dropped by
    # the tablet and refused by the server, and the key a re-enrolled kiosk kept for its
    # previous binding's queue is deleted after this long (kiosk_queue.py).
    "KIOSK_QUEUE_MAX_DAYS": 30,
    # Largest request body in bytes; larger ones get 413.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto.
    "TRUSTED_PROXIES": 0,
    # Seconds each worker process may serve public pages and counts from memory
    # (public_cache.py); 0 turns that off.
    "PUBLIC_CACHE_SECONDS": 2.0,
    "OUTBOX_POLL_SECONDS": 1.0,
    # Seconds the outbox waits on the SMTP server (connecting, each reply) before it counts
    # the server as unreachable and pauses (outbox.SERVER_PAUSE).
    "SMTP_TIMEOUT_SECONDS": 30,
    "OUTBOX_BATCH_SIZE": 100,
    "OUTBOX_MAX_ATTEMPTS": 12,
    # Mail that has waited this long (minutes) means the outbox is behind: the admin start
    # page says so and `flask outbox status` exits with 1 (see outbox_status.py).
    "OUTBOX_ALERT_MINUTES": 15,
    # The mail provider's sending limit, e.g. "30 per minute;10000 per day": mail beyond it
    # waits in the queue instead of being refused (sendlimit.py).  Empty: no limit.
    "OUTBOX_SEND_LIMIT": "",
    # Data protection (see README "Data protection"): retention periods in days.
    # Unconfirmed (pending or expired) signatures are deleted this long after signing.
    "UNCONFIRMED_RETENTION_DAYS": 30,
    # Signers' personal data is anonymised this long after the committee answered (or the
    # initiative was withdrawn or closed without being submitted).
    "ANONYMISE_AFTER_DAYS": 90,
    # Bodies of sent (or finally failed) mails are cleared this long after sending.
    "OUTBOX_RETENTION_DAYS": 7,
    # Keyed hashes of client addresses are dropped this long after signing.
    "CLIENT_HASH_RETENTION_DAYS": 30,
    # "What do you store about me?" requests per client, and reports per address per day.
    "DATA_REQUEST_RATE_LIMIT": "5 per hour;20 per day",
    "DATA_REQUESTS_PER_ADDRESS_PER_DAY": 2,
    # Unsolicited mails (confirmation links, "already signed", data reports) to one
    # address per day across all initiatives.
    "MAILS_PER_ADDRESS_PER_DAY_TOTAL": 10,
    "ORGANISATION_NAME": "Rosengård Samverkan",
    "ORGANISATION_EMAIL": "kontakt@example.org",
    # Where the source of the code this site runs can be had (AGPL-3.0 §13), e.g. the
    # public repository of a changed copy: the footer's "Källkod" link goes there.  Empty:
    # /source serves an archive of the running code itself.
    "SOURCE_URL": "",
    # Whether the organisation running the site is a public body (an authority, a
    # municipality, a region): only then does the Swedish law on accessible digital public
    # services apply, and the accessibility statement point to Digg for complaints.
    "ORGANISATION_PUBLIC_SECTOR": False,
    "LOG_LEVEL": "INFO",
    # Organiser admin: minutes without a request before a session ends, and login
    # throttling (failed attempts per account and per client within the window).
    "ADMIN_IDLE_MINUTES": 30,
    # ... and hours after the login however busy (a working day; a copied cookie dies too).
    "ADMIN_SESSION_HOURS": 12,
    "ADMIN_LOGIN_WINDOW_MINUTES": 15,
    "ADMIN_LOGIN_MAX_PER_ACCOUNT": 5,
    "ADMIN_LOGIN_MAX_PER_CLIENT": 20,
    # The Argon2id cost of organisers' passwords, as a profile of argon2-cffi
    # (``argon2.profiles``): RFC_9106_LOW_MEMORY (64 MiB, 3 passes; RFC 9106's second
    # recommendation) or RFC_9106_HIGH_MEMORY (2 GiB a login).  The test suite runs with
    # CHEAPEST, which only APP_ENV=testing accepts.
    "PASSWORD_HASH_PROFILE": "RFC_9106_LOW_MEMORY",
    # Largest upload (the committee's answer as PDF), in bytes.
    "ADMIN_UPLOAD_MAX_BYTES": 10 * 1024 * 1024,
}

MIN_SECRET_KEY_LENGTH = 32
# The argon2-cffi profiles a site may hash passwords with (see PASSWORD_HASH_PROFILE).
PASSWORD_HASH_PROFILES = ("RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY")
RATE_LIMIT_KEYS = (*(k for k in DEFAULTS if k.endswith("_RATE_LIMIT")), "OUTBOX_SEND_LIMIT")


# The smallest value of each number that can work.  Zero disables only where the README
# says so (TRUSTED_PROXIES, PUBLIC_CACHE_SECONDS); elsewhere it would stop the service
# quietly: a batch of 0 mails never ends, 0 mails a day sends no confirmation link.
MINIMUMS: dict[str, float] = {
    **{k: 1 for k, v in DEFAULTS.items() if isinstance(v, int) and not isinstance(v, bool)},
    "TRUSTED_PROXIES": 0,
    "PUBLIC_CACHE_SECONDS": 0,
    "OUTBOX_POLL_SECONDS": 0.01,
}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says what to set."""


def _convert(value: str, default: Any) -> Any:
    if isinstance(default, list):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(default, bool):
        # A typo must not read as "no": RATELIMIT_ENABLED=ture would switch limits off.
        word = value.strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError("write true or false (or 1/0, yes/no, on/off)")
        return word in TRUE_WORDS
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
        signing_keys = {config["SECRET_KEY"], *(config["SECRET_KEY_FALLBACKS"] or [])}
        if any(key in signing_keys for key in data_keys(config["DATA_KEY"])):
            # Also a key kept in DATA_KEY for a rotation, or a previous SECRET_KEY.
            raise ConfigError("DATA_KEY must not be the same as SECRET_KEY.")
        if not config["SMTP_URL"]:
            # Else the site takes signatures whose confirmation links never leave.
            raise ConfigError(
                "SMTP_URL must be set: confirmation links go out by mail. Write it like "
                "smtp://user:pass@host:587?starttls=1 or smtps://user:pass@host:465."
            )
        if config["ORGANISATION_EMAIL"] == DEFAULTS["ORGANISATION_EMAIL"]:
            # It is the contact on every page, in every mail (their Reply-To) and on the
            # posters: the example address would send signers' questions nowhere.
            raise ConfigError(
                "ORGANISATION_EMAIL must be set to the address signers can write to "
                "(it is shown on every page, in every mail and on the posters)."
            )
        if config["BASE_URL"] == DEFAULTS["BASE_URL"]:
            raise ConfigError(
                "BASE_URL must be set to the site's public address (https://…): the links "
                "in confirmation and withdrawal mail are built from it."
            )
    config["DATA_KEYS"] = data_keys(config["DATA_KEY"])
    profiles = PASSWORD_HASH_PROFILES + (("CHEAPEST",) if env == "testing" else ())
    if config["PASSWORD_HASH_PROFILE"] not in profiles:
        # A cheap hash would let a stolen database give up its passwords in hours.
        raise ConfigError(
            f"PASSWORD_HASH_PROFILE must be one of {', '.join(PASSWORD_HASH_PROFILES)}, "
            f"not {config['PASSWORD_HASH_PROFILE']!r}."
        )

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

    # A BASE_URL without its scheme would make every link in mail "//host/confirm/…",
    # which mail programs do not open: nobody could confirm.
    base = urlsplit(config["BASE_URL"])
    if base.scheme not in ("http", "https") or not base.hostname:
        raise ConfigError(
            "BASE_URL must be the site's public address with its scheme, like "
            f"https://initiativ.example.org; got {config['BASE_URL']!r}."
        )
    source = urlsplit(config["SOURCE_URL"])
    if config["SOURCE_URL"] and (source.scheme not in ("http", "https") or not source.hostname):
        raise ConfigError(
            "SOURCE_URL must be the address of the site's source code with its scheme, "
            f"like https://git.example.org/initiatives; got {config['SOURCE_URL']!r}."
        )
    # The name alone ("Malmöinitiativ Rosengård") leaves no sender address, which SMTP
    # servers refuse; mail is sent without SMTPUTF8, so the address must be ASCII.
    local, at, domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")
    if not (local and at and domain and (local + domain).isascii()):
        raise ConfigError(
            "MAIL_FROM must hold the sender's address, like "
            f'"Malmöinitiativ Rosengård <noreply@example.org>"; got {config["MAIL_FROM"]!r}.'
        )
    # Replies to our mail go there (Reply-To), which needs an ASCII address as MAIL_FROM.
    local, at, domain = config["ORGANISATION_EMAIL"].strip().rpartition("@")
    if not (local and at and domain and (local + domain).isascii()) or " " in local + domain:
        raise ConfigError(
            "ORGANISATION_EMAIL must be an email address, like kontakt@example.org; "
            f"got {config['ORGANISATION_EMAIL']!r}."
        )
    if config["SMTP_URL"]:
        # Otherwise only the outbox worker would find out, when it first sends.
        try:
            transports.SMTPTransport(config["SMTP_URL"])
        except ValueError as exc:
            raise ConfigError(
                f"SMTP_URL is not usable ({exc}): write it like "
                "smtp://user:pass@host:587?starttls=1 or smtps://user:pass@host:465."
            ) from exc

    secure = config["BASE_URL"].startswith("https://")
    config["SESSION_COOKIE_SECURE"] = secure
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_NAME"] = "initiatives_session"
    config["PREFERRED_URL_SCHEME"] = "https" if secure else "http"
    # The sign form may stay open on a phone for a long time; the token lives with the
    # session instead of expiring after an hour.
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    # Pages that carry a token in their URL (confirm, withdraw, kiosk enrolment) send no
    # Referer at all (Referrer-Policy: no-referrer), so Flask-WTF's extra "same-origin
    # Referer over https" check would refuse their forms.  CSRF protection rests on the
    # token, SameSite cookies and HSTS (which rules out the plain-http downgrade that
    # check defends against).
    config.setdefault("WTF_CSRF_SSL_STRICT", False)
    # A form's token is signed by Flask-WTF with one key; itsdangerous also takes a list
    # (the last signs, every one verifies), so a form opened before SECRET_KEY moved to
    # SECRET_KEY_FALLBACKS is still accepted after the restart, as its session is.
    if config["SECRET_KEY_FALLBACKS"]:
        config.setdefault(
            "WTF_CSRF_SECRET_KEY", [*config["SECRET_KEY_FALLBACKS"], config["SECRET_KEY"]]
        )
    config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"] or "memory://"
    # If Redis goes away, limit in memory per instance rather than fail every request.
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    # A typo in a limit would otherwise only show when the first request needs it.
    for key in RATE_LIMIT_KEYS:
        try:
            valid = bool(sendlimit.parse(str(config[key]))) or key == "OUTBOX_SEND_LIMIT"
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(
                f'{key}={config[key]!r} is not a rate limit: write it as "30 per minute", '
                'several separated by ";" ("30 per minute;10000 per day").'
            )
    for key, least in MINIMUMS.items():
        if float(config[key]) < least:
            raise ConfigError(f"{key} must be at least {least}, not {config[key]!r}.")
    if config["UNCONFIRMED_RETENTION_DAYS"] < config["CONFIRM_DAYS"]:
        raise ConfigError(
            "UNCONFIRMED_RETENTION_DAYS must be at least CONFIRM_DAYS, or signatures would "
            "be deleted while their confirmation link still works."
        )
