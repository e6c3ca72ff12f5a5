"""Public JSON: initiatives, their state and counts.  Never personal data.

Responses are cacheable for a few seconds and carry an ETag, so a CDN or the browser can
absorb readers who refresh the counter.  Any website may read them (CORS ``*``, without
credentials): a partner's or the network's own page can show the live counter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from .campaign import page_url
from .extensions import db
from .lifecycle import local_date
from .models import Initiative, InitiativeState
from .public_cache import cached
from .signing import PUBLIC_STATES, answer_pdf_id, public_initiative_or_404

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_AGE = 10

# Public counts, the same for everyone and never personal: any origin may read them, but
# no browser sends cookies along (``*`` forbids credentials), so a page elsewhere learns
# nothing about its visitor from here.
OPEN_TO_ANY_SITE = (
    ("Access-Control-Allow-Origin", "*"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
)


@bp.after_app_request
def open_to_any_site(response: Response) -> Response:
    """On every ``/api/`` answer, errors and 304s included (a partner's script can then
    tell "no such initiative" from a network failure), also where no route of this
    blueprint matched (an unknown path, a method it does not take)."""
    if request.path.startswith("/api/"):
        response.headers.extend(OPEN_TO_ANY_SITE)
    return response


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def serialise(initiative: Initiative) -> dict[str, Any]:
    text = initiative.text("sv")
    return {
        "slug": initiative.slug,
        "title": text.title if text is not None else initiative.slug,
        "state": initiative.state,
        # The period can end before an organiser records "closed": what a counter
        # should show.
        "accepting_signatures": initiative.accepts_signatures(),
        "threshold": initiative.threshold,
        "confirmed": initiative.confirmed_count,
        "opens_at": _iso(initiative.opens_at),
        "closes_at": _iso(initiative.closes_at),
        "target_body": initiative.target_body,
        # What became of it: the days the list was handed in and the committee answered
        # (Malmö dates, as the organisers recorded them), and the answer's PDF.
        "submitted_on": _day(initiative.submitted_at),
        "answered_on": _day(initiative.answered_at),
        "answer_pdf": _answer_url(initiative),
    }


def _day(moment: Any) -> str | None:
    return local_date(moment).isoformat() if moment is not None else None


def _answer_url(initiative: Initiative) -> str | None:
    if answer_pdf_id(initiative) is None:
        return None
    # From BASE_URL, as every link we hand out, never from the request's Host: this JSON
    # is kept for everyone (``cached_json``, and any CDN), so one request with a forged
    # Host or X-Forwarded-Host would put another site's address before every reader.
    return f"{page_url(initiative)}/answer.pdf"


def _encoded(payload: Any) -> tuple[bytes, list[tuple[str, str]]]:
    response = cacheable_headers(jsonify(payload))
    return response.get_data(), list(response.headers.items())


def cacheable_headers(response: Response) -> Response:
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    response.add_etag()
    return response


def cached_json(key: Any, load: Callable[[], Any]) -> Response:
    """``load()`` as JSON that a CDN or browser may keep for MAX_AGE seconds, with the
    encoded body and its headers (the ETag among them) kept in the public cache.

    Readers who poll the count then cost neither a query, nor JSON encoding and hashing,
    nor building the caching headers anew.
    """
    body, headers = cached(key, lambda: _encoded(load()))
    response = current_app.response_class(body, headers=headers)
    return response.make_conditional(request)


def _listing() -> dict[str, Any]:
    rows = db.session.scalars(
        sa.select(Initiative)
        .where(Initiative.state.in_([s.value for s in PUBLIC_STATES]))
        .where(Initiative.state != InitiativeState.WITHDRAWN)
        .order_by(Initiative.id)
    ).all()
    return {"initiatives": [serialise(i) for i in rows]}


@bp.get("/initiatives")
def initiatives() -> Response:
    return cached_json(("api", None), _listing)


@bp.get("/initiatives/<slug>")
def initiative(slug: str) -> Response:
    # Counts may be served from memory for a moment: no query per reader in a surge.
    return cached_json(("api", slug), lambda: serialise(public_initiative_or_404(slug)))
