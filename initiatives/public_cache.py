"""Short-lived, per-process caches of what every anonymous visitor sees alike.

A surge brings many readers for each signer: people refresh the initiative page and the
counter.  Each worker process keeps, for at most ``PUBLIC_CACHE_SECONDS``:

* public JSON (an initiative's count and state), and
* the rendered HTML of public pages for anonymous visitors, with the CSRF token cut out
  and filled in per request, so every visitor still gets a token of their own;

so a reader costs neither a query nor a template rendering.  A commit in this process
that changes an initiative or its texts (a confirmation changes the count) empties the
cache at once; other processes show the change within ``PUBLIC_CACHE_SECONDS``.  The
signing pages stay ``no-store`` for browsers and proxies: this cache is inside the
server only.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, has_app_context, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from .i18n import DEFAULT, LANG_COOKIE
from .tokens import TOKEN_RE

T = TypeVar("T")

EXTENSION = "public_cache"
MAX_ENTRIES = 512
# Stands in for the visitor's CSRF token in a cached page; replaced before sending.
TOKEN_PLACEHOLDER = "\x00csrf-token\x00"  # noqa: S105 - a placeholder, not a secret
# Writes to these tables change what the cached pages and JSON show.
PUBLIC_TABLES = frozenset({"initiatives", "initiative_texts"})
_DIRTY = "initiatives.public_cache.dirty"
# The clock entries expire by (a name of its own so tests can move it).
_now = time.monotonic


class PublicCache:
    """A small time-limited map; emptied whole when full or when public data changes."""

    def __init__(self, seconds: float, max_entries: int = MAX_ENTRIES):
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= _now():
            return None
        return entry[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (_now() + self.seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def public_cache() -> PublicCache:
    """The current application's cache (made on first use)."""
    cache = current_app.extensions.get(EXTENSION)
    if cache is None:
        cache = PublicCache(float(current_app.config.get("PUBLIC_CACHE_SECONDS", 0)))
        current_app.extensions[EXTENSION] = cache
    return cache


def cached(key: Any, load: Callable[[], T]) -> T:
    """``load()``, or what it returned less than PUBLIC_CACHE_SECONDS ago in this process.

    For data that is the same for every visitor.  Exceptions (a 404) are not cached.
    """
    cache = public_cache()
    if not cache.enabled:
        return load()
    value = cache.get(key)
    if value is None:
        value = load()
        cache.put(key, value)
    return value


def _anonymous() -> bool:
    """A visitor whose page can only differ from others' by language and CSRF token.

    Any cookie we do not know (a kiosk's, a login's) or anything in the session besides
    the CSRF secret means the page may be personal: it is rendered afresh.
    """
    session_cookie = current_app.config["SESSION_COOKIE_NAME"]
    if not set(request.cookies) <= {session_cookie, LANG_COOKIE}:
        return False
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    return set(session.keys()) <= {field} and "Authorization" not in request.headers


def cached_page(render: Callable[[], str]) -> str:
    """A public page for an anonymous visitor, rendered at most once per cache period.

    ``render`` must depend only on the URL, the language and public data.
    """
    cache = public_cache()
    if not cache.enabled or not _anonymous():
        return render()
    key = ("page", request.path, request.query_string, str(get_locale() or DEFAULT))
    template = cache.get(key)
    if template is None:
        html = render()
        field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        token = g.get(field)  # Flask-WTF keeps the request's signed token here
        template = html.replace(token, TOKEN_PLACEHOLDER) if token else html
        cache.put(key, template)
        return html
    if TOKEN_PLACEHOLDER in template:
        return template.replace(TOKEN_PLACEHOLDER, generate_csrf())
    return template


# Stands in for the token of a confirmation or withdrawal link in a cached page skeleton.
LINK_PLACEHOLDER = "\x00link-token\x00"
SKELETONS = "public_cache.skeletons"


def cached_skeleton(
    key: tuple[Any, ...],
    link_token: str,
    render: Callable[[], str],
    live: dict[str, str] | None = None,
) -> str:
    """A page reached by a personal link, rendered at most once per cache period.

    The pages behind confirmation and withdrawal links differ from one visitor to the
    next only by the link's token (in the form's action and the language links) and the
    CSRF token: both are cut out of the cached copy and filled in per request.  ``key``
    must name everything else the page shows (the signature's state, the initiative's
    title, …): commits do not empty this cache, since every confirmation would.

    ``live`` names fragments of the page that change too often to be part of the key
    (the count, which every confirmation moves), each as rendered for this request: the
    skeleton keeps a placeholder where each was, and this request's fragment goes in.
    Each fragment must be what ``render()`` puts in the page, character for character.
    """
    cache = public_cache()
    # The link's token goes back into the page as it is, unescaped: only one made of
    # characters that HTML escaping leaves alone may (``read_token`` refuses any other).
    if not cache.enabled or not _anonymous() or not TOKEN_RE.fullmatch(link_token):
        return render()
    skeletons = current_app.extensions.get(SKELETONS)
    if skeletons is None:
        skeletons = current_app.extensions[SKELETONS] = PublicCache(cache.seconds)
    live = live or {}
    full_key = (
        key,
        tuple(live),
        request.script_root,
        request.query_string,
        str(get_locale() or DEFAULT),
    )
    skeleton = skeletons.get(full_key)
    if skeleton is None:
        html = render()
        field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        token = g.get(field)
        skeleton = html.replace(link_token, LINK_PLACEHOLDER)
        if token:
            skeleton = skeleton.replace(token, TOKEN_PLACEHOLDER)
        for name, fragment in live.items():
            if skeleton.count(fragment) != 1:
                # Not where we can cut it out for sure: this page is not cached.
                return html
            skeleton = skeleton.replace(fragment, _live_placeholder(name))
        skeletons.put(full_key, skeleton)
        return html
    html = skeleton.replace(LINK_PLACEHOLDER, link_token)
    for name, fragment in live.items():
        html = html.replace(_live_placeholder(name), fragment)
    if TOKEN_PLACEHOLDER in html:
        html = html.replace(TOKEN_PLACEHOLDER, generate_csrf())
    return html


def _live_placeholder(name: str) -> str:
    return f"\x00live-{name}\x00"


# --- invalidation: a commit that changed public data empties this process's cache ------


@event.listens_for(Session, "before_flush")
def _note_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if getattr(obj, "__tablename__", None) in PUBLIC_TABLES:
            session.info[_DIRTY] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    # Bulk UPDATEs (the count kept by signature_states.move) do not pass through a flush.
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in PUBLIC_TABLES:
        state.session.info[_DIRTY] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False) and has_app_context():
        cache = current_app.extensions.get(EXTENSION)
        if cache is not None:
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
