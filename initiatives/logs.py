"""Logging that never carries tokens, client addresses or what an organiser searched for.

Tokens are in confirmation and withdrawal URLs, which access logs print; a client
address is personal data, and access logs start with it; an organiser's search puts a
signer's name or address in the URL's query (``?q=``), and so does the ``next`` of a
login page and the Referer of the page after it.  All are replaced before a record
reaches any handler.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

_TOKEN_PATH = re.compile(r"/(confirm|withdraw|kiosk/enrol)/[^\s\"'?/]+")
# The first field of werkzeug's and gunicorn's access lines: an IPv4 or IPv6 address.
_LEADING_ADDRESS = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)(?=\s)")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")
# A query string in a URL (after a path, not a lone "?" in prose).
_QUERY = re.compile(r"(?<=[\w/.%-])\?([^\s\"'<>]*)")
# Query parameters that never carry personal data: campaign tags, QR sizes and sheets,
# and the organisers' list filters.  Any other parameter's value is replaced, so a new
# one is kept out of the logs until someone decides it is harmless.
SAFE_PARAMETERS = frozenset({"src", "size", "sheet", "all", "state", "channel", "lang"})


def redact(text: str) -> str:
    """``text`` with every token in a URL path replaced by ``[redacted]``."""
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/[redacted]", text)


def redact_query(text: str) -> str:
    """``text`` with the value of every query parameter not known to be harmless replaced."""

    def clean(match: re.Match[str]) -> str:
        pairs = []
        for pair in match.group(1).split("&"):
            name, equals, _value = pair.partition("=")
            if unquote_plus(name) in SAFE_PARAMETERS or not pair:
                pairs.append(pair)
            else:
                pairs.append(
                    f"{name}=[redacted]" if equals and name.isidentifier() else "[redacted]"
                )
        return "?" + "&".join(pairs)

    return _QUERY.sub(clean, text)


def redact_address(text: str) -> str:
    """An access-log line without the client address it starts with."""
    return _LEADING_ADDRESS.sub("[client]", text, count=1)


class TokenRedactingFilter(logging.Filter):
    """Rewrites a record's message with tokens and query values in URLs ``[redacted]``.

    On access loggers the client address at the start of the line goes too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(redact_query(message))
        if record.name in ACCESS_LOGGERS:
            cleaned = redact_address(cleaned)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def get_logger(name: str) -> logging.Logger:
    """The logger for module ``name``, its records redacted like the ``initiatives`` one.

    A filter on a logger sees only what is logged on that logger itself, not what its
    children pass up to it: each module's logger needs its own.
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, TokenRedactingFilter) for f in logger.filters):
        logger.addFilter(TokenRedactingFilter())
    return logger
