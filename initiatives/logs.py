"""Logging that never carries tokens or client addresses.

Tokens are in confirmation and withdrawal URLs, which access logs print; a client
address is personal data, and access logs start with it.  Both are replaced before a
record reaches any handler.
"""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"/(confirm|withdraw|kiosk/enrol)/[^\s\"'?/]+")
# The first field of werkzeug's and gunicorn's access lines: an IPv4 or IPv6 address.
_LEADING_ADDRESS = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)(?=\s)")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


def redact(text: str) -> str:
    """``text`` with every token in a URL path replaced by ``[redacted]``."""
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/[redacted]", text)


def redact_address(text: str) -> str:
    """An access-log line without the client address it starts with."""
    return _LEADING_ADDRESS.sub("[client]", text, count=1)


class TokenRedactingFilter(logging.Filter):
    """Rewrites a record's message with tokens in URLs replaced by ``[redacted]``.

    On access loggers the client address at the start of the line goes too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.name in ACCESS_LOGGERS:
            cleaned = redact_address(cleaned)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
