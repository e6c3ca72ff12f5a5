"""Where the outbox's mail goes: an SMTP server, or in development a folder of files."""

from __future__ import annotations

import smtplib
import ssl
from email.message import Message
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Flask

from . import clock

SMTP_TIMEOUT = 30  # seconds; the app's SMTP_TIMEOUT_SECONDS


class Transport(Protocol):
    def send(self, message: Message) -> None: ...
    def close(self) -> None: ...


class SMTPTransport:
    """One connection per batch; ``smtp://user:pass@host:port``, ``?starttls=1`` or smtps."""

    def __init__(self, url: str, timeout: float = SMTP_TIMEOUT):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        query = parse_qs(parts.query)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.implicit_tls = parts.scheme == "smtps"
        self.starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.implicit_tls:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                conn.starttls(context=context)
        if self.username:
            conn.login(self.username, self.password or "")
        return conn

    def send(self, message: Message) -> None:
        # smtplib closes the connection itself on a 421 ("closing channel"): a new one.
        if self._conn is None or self._conn.sock is None:
            self._conn = self._connect()
        self._conn.send_message(message)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None


class DirectoryTransport:
    """Development only: each mail becomes a file in instance/mail/."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def send(self, message: Message) -> None:
        stamp = clock.utcnow().strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}-{message['X-Outbox-Id']}.eml"
        path.write_bytes(bytes(message))

    def close(self) -> None:
        pass


def transport_for(app: Flask) -> Transport:
    url = app.config["SMTP_URL"]
    if url:
        return SMTPTransport(url, app.config["SMTP_TIMEOUT_SECONDS"])
    if app.config["APP_ENV"] in ("development", "testing"):
        return DirectoryTransport(Path(app.instance_path) / "mail")
    raise RuntimeError("SMTP_URL is not set: the outbox has nowhere to deliver mail.")
