"""Races on an initiative's texts: a save or a removal that waits for the initiative's
lock while another organiser's transition moves the initiative on.

PostgreSQL only: there the requests run at once and the second one finds, once it holds
the lock, a state its page never showed; on SQLite every writing request runs alone.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from initiatives import texts
from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative, InitiativeState

from .admin_helpers import logged_in, opened
from .concurrency_helpers import PG, wait_for_lock_waiters, while_held

TEXT = {"title": "Tryggare Amiralsgatan", "summary": "Säkra övergångar.", "body": "Förslag."}
MOVED_ON = "Initiativet har bytt läge sedan du öppnade sidan och är nu"


def _while_moved_on(app, state: InitiativeState, request: Callable[[], object]) -> object:
    """What ``request`` answered when it ran while another transaction, holding the
    initiative's row, moved it to ``state``: that one commits once ``request`` waits."""
    answered: list[object] = []
    thread = threading.Thread(target=lambda: answered.append(request()))
    with app.app_context(), sa.orm.Session(db.engine) as first, db.engine.connect() as watcher:
        first.execute(sa.update(Initiative).values(state=state))
        first.flush()
        thread.start()
        wait_for_lock_waiters(watcher, 1)
        first.commit()
    thread.join(timeout=120)
    [response] = answered
    return response


def _stored(app, locale: str) -> tuple[dict[str, str] | None, str | None, int, list[str]]:
    """The language's text, the text hash, the corrections and the log, as stored."""
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        text = texts.stored_text(initiative, locale)
        return (
            None if text is None else {k: getattr(text, k) for k in TEXT},
            initiative.text_hash,
            len(texts.amendments(initiative)),
            list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id))),
        )


@PG
@pytest.mark.parametrize(
    ("opened_in", "now", "named"),
    [
        (InitiativeState.COLLECTING, InitiativeState.CLOSED, "stängt"),
        (InitiativeState.DRAFT, InitiativeState.WITHDRAWN, "tillbakadraget"),
    ],
)
def test_a_text_saved_while_the_initiative_moves_on_comes_back_with_what_was_typed(
    app, make_initiative, opened_in, now, named
):
    """Nadia saves a correction (or a draft's text) while Omar's closing (or withdrawal)
    holds the initiative: her request read a state the text could change in, then finds
    one it cannot.  A conflict (409) saying so, with her text and reason kept, not a
    server error nor another state's message; nothing is stored."""
    make_initiative(state=opened_in, texts={"sv": TEXT})
    client = logged_in(app, role="organiser", email="nadia@example.org")
    page = "/admin/initiatives/amiralsgatan/text/sv"
    note = {"note": "Träden fattades"} if opened_in == InitiativeState.COLLECTING else {}
    typed = TEXT | {"body": "Vi föreslår säkra övergångar och träd."} | note
    shown = opened(client, page)
    before = _stored(app, "sv")

    response = _while_moved_on(app, now, lambda: client.post(page, data=shown | typed))

    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 409, body
    assert f"{MOVED_ON} {named}" in body
    assert typed["body"] in body and (not note or note["note"] in body)
    assert _stored(app, "sv") == before


@PG
def test_a_language_removed_while_the_draft_is_withdrawn_stays_with_a_conflict(
    app, make_initiative
):
    """Nadia removes the English text while Omar's withdrawal holds the draft: refused
    (409) naming the state, the text shown as it stays; nothing removed nor logged."""
    english = {"title": "Safer Amiralsgatan", "summary": "", "body": "We propose crossings."}
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT, "en": english})
    client = logged_in(app, role="organiser", email="nadia@example.org")
    page = "/admin/initiatives/amiralsgatan/text/en"
    shown = opened(client, page)
    before = _stored(app, "en")

    response = _while_moved_on(
        app, InitiativeState.WITHDRAWN, lambda: client.post(page + "/remove", data=shown)
    )

    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 409, body
    assert f"{MOVED_ON} tillbakadraget, så texten kan inte tas bort" in body
    assert english["body"] in body
    assert _stored(app, "en") == before


@PG
def test_a_draft_text_saved_while_it_is_published_comes_back_with_the_reason_field(
    app, make_initiative
):
    """Nadia saves the draft's text while Omar's publishing holds the initiative: her
    request read a draft, then finds it collecting.  A conflict (409) with her text kept
    and the reason field a correction needs, not a server error; nothing is stored."""
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT})
    client = logged_in(app, role="organiser", email="nadia@example.org")
    page = "/admin/initiatives/amiralsgatan/text/sv"
    typed = TEXT | {"body": "Vi föreslår säkra övergångar och träd."}
    shown = opened(client, page)
    responses: list[object] = []

    def publish(first: sa.orm.Session) -> None:
        first.execute(sa.update(Initiative).values(state=InitiativeState.COLLECTING))

    def save() -> None:
        responses.append(client.post(page, data=shown | typed))

    assert while_held(app, publish, save) == [None]
    [response] = responses
    body = response.get_data(as_text=True)
    assert response.status_code == 409, body
    assert "Initiativet har publicerats sedan du öppnade sidan" in body
    assert 'name="note"' in body and typed["body"] in body
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        stored = texts.stored_text(initiative, "sv")
        assert {k: getattr(stored, k) for k in TEXT} == TEXT
        assert texts.amendments(initiative) == []
