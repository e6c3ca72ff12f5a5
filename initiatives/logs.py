"""Logging that never carries tokens (they are in confirmation and withdrawal URLs)."""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"/(confirm|withdraw|kiosk/enrol)/[^\s\"'?/]+")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/[redacted]", text)


class TokenRedactingFilter(logging.Filter):
    """Rewrites a record's message with tokens in URLs replaced by ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
