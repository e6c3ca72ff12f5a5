"""A ceiling on how fast the outbox sends: the mail provider's own limits.

Providers cap what one account may send (Microsoft 365: 30 mails a minute and 10,000 a
day; Google Workspace: 2,000 a day; a web host's SMTP often far fewer) and beyond it
refuse mail or suspend the account.  In a surge that would turn away the confirmation
links people are waiting for, and burn each mail's retries against a closed door.
``OUTBOX_SEND_LIMIT`` (``"30 per minute;10000 per day"``, the rate-limit syntax) keeps
the outbox under the provider's limit instead: mail past it waits in the queue with its
attempts untouched, and goes out as the window moves on.  ``flask outbox status`` says
when the limit is what holds mail back.

Each mail takes its place with one atomic hit on a moving window (the ``limits``
library, which Flask-Limiter is built on), kept where the rate limits are: in Redis when
``REDIS_URL`` is set, so that several workers share one budget and never exceed it
together; in the worker's memory otherwise (one worker, as on SQLite).  If Redis cannot
be reached the worker counts in its own memory until it can, as the rate limits do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .logs import get_logger

log = get_logger(__name__)

NAMESPACE = "outbox-send"
# Seconds before a worker that lost Redis tries it again.
RETRY_STORAGE_SECONDS = 30.0
REDIS_TIMEOUT_SECONDS = 2.0


def parse(spec: str) -> list[RateLimitItem]:
    """The limits of ``OUTBOX_SEND_LIMIT``; an empty value is no limit.

    Raises ``ValueError`` for a value that is not in the rate-limit syntax.
    """
    if not spec.strip():
        return []
    return parse_many(spec)


@dataclass(frozen=True)
class Headroom:
    """How many mails the limit lets go now, and when the next place frees up."""

    mails: int
    free_in: float  # seconds until a place frees up (0 when one is free now)
    limit: str


class SendLimit:
    """The shared budget of mails all outbox workers may send."""

    def __init__(self, spec: str, storage_uri: str, key_prefix: str = ""):
        self.items = parse(spec)
        if not self.items:
            raise ValueError("SendLimit needs at least one limit")
        self.spec = spec
        self.key = key_prefix or "-"
        options: dict[str, float | str | bool] = {"wrap_exceptions": True}
        if storage_uri.startswith(("redis://", "rediss://")):
            options["socket_connect_timeout"] = REDIS_TIMEOUT_SECONDS
            options["socket_timeout"] = REDIS_TIMEOUT_SECONDS
        self._shared: Storage = storage_from_string(storage_uri, **options)
        # Whether other processes (the workers, `outbox status`, the admin) see one count.
        self.shared = not isinstance(self._shared, MemoryStorage)
        self._own = MovingWindowRateLimiter(MemoryStorage())
        self._limiter = MovingWindowRateLimiter(self._shared)
        self._shared_down_until = 0.0

    def _strategy(self) -> MovingWindowRateLimiter:
        if self._shared_down_until and time.monotonic() < self._shared_down_until:
            return self._own
        return self._limiter

    def _lost_storage(self, exc: StorageError) -> None:
        log.warning(
            "outbox send limit: %s unreachable (%s); counting in this worker's memory",
            type(self._shared).__name__,
            type(exc.storage_error).__name__,
        )
        self._shared_down_until = time.monotonic() + RETRY_STORAGE_SECONDS

    def headroom(self) -> Headroom:
        """The smallest room left among the limits (none is used up by asking)."""
        try:
            stats = [
                (item, self._strategy().get_window_stats(item, NAMESPACE, self.key))
                for item in self.items
            ]
        except StorageError as exc:
            self._lost_storage(exc)
            return self.headroom()
        full = [(item, window) for item, window in stats if window.remaining <= 0]
        if full:
            # Mail waits for the last of the full windows to free a place.
            item, window = max(full, key=lambda pair: pair[1].reset_time)
            return Headroom(0, max(window.reset_time - time.time(), 0.0), str(item))
        item, window = min(stats, key=lambda pair: pair[1].remaining)
        return Headroom(window.remaining, 0.0, str(item))

    def take(self) -> bool:
        """One mail's place in every window, or False when one of them is full.

        Each hit is atomic, so workers never together go past a window.  A place taken in
        one window and refused by the next stays taken: the limit errs towards fewer mails.
        """
        try:
            strategy = self._strategy()
            if not all(strategy.test(item, NAMESPACE, self.key) for item in self.items):
                return False
            return all(strategy.hit(item, NAMESPACE, self.key) for item in self.items)
        except StorageError as exc:
            self._lost_storage(exc)
            return self.take()


def for_app(app: Flask) -> SendLimit | None:
    """The app's send limit (one per process), or None when OUTBOX_SEND_LIMIT is empty."""
    spec = app.config["OUTBOX_SEND_LIMIT"]
    if not spec.strip():
        return None
    limit: SendLimit | None = app.extensions.get("outbox_send_limit")
    if limit is None or limit.spec != spec:
        limit = SendLimit(
            spec, app.config["RATELIMIT_STORAGE_URI"], app.config["RATELIMIT_KEY_PREFIX"]
        )
        app.extensions["outbox_send_limit"] = limit
    return limit
