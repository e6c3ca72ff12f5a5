"""Two organisers on one language's text: a save made from a page that showed a text no
longer stored (changed, added or removed by the other since) is refused with 409, with
what is stored now shown above what she typed, never overwriting the other's unseen.
The same form sent twice (a double click) is neither refused nor recorded twice."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from initiatives import texts
from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative, InitiativeState

from .admin_helpers import OPENED_AS_RE, SEEN_RE, logged_in, opened, post_form, post_text

TEXT = {
    "title": "Tryggare Amiralsgatan",
    "summary": "Säkra övergångar.",
    "body": "Vi föreslår att Tekniska nämnden bygger säkra övergångar.",
}
SV = "/admin/initiatives/amiralsgatan/text/sv"
EN = "/admin/initiatives/amiralsgatan/text/en"
ENGLISH = {"title": "Safer Amiralsgatan", "summary": "", "body": "We propose safe crossings."}
CHANGED = "Texten har ändrats sedan du öppnade sidan"


def _organisers(app):
    return {
        "nadia": logged_in(app, role="organiser", email="nadia@example.org"),
        "omar": logged_in(app, role="organiser", email="omar@example.org"),
    }


def _stored(app, locale: str) -> dict[str, str] | None:
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        text = texts.stored_text(initiative, locale)
        return None if text is None else {k: getattr(text, k) for k in TEXT}


def _logged(app, action: str) -> list[str]:
    """Who did ``action``, in order."""
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return [e.actor for e in events]


def _amendments(app) -> list[texts.Amendment]:
    with app.app_context():
        found = texts.amendments(db.session.scalars(sa.select(Initiative)).one())
        db.session.expunge_all()
        return found


def _text_hash(app) -> str | None:
    with app.app_context():
        return db.session.scalars(sa.select(Initiative)).one().text_hash


def _stored_panel(page: str) -> str:
    """The "stored now" panel of a refused text page (empty when there is none)."""
    found = re.search(
        r'<section class="panel[^"]*" aria-labelledby="stored-heading">.*?</section>', page, re.S
    )
    return html.unescape(found.group(0)) if found else ""


def _form(page: str) -> str:
    """The text form of a page: what the organiser typed, as sent back to her."""
    found = re.search(r'<form method="post" novalidate>.*?</form>', page, re.S)
    assert found, "no text form"
    return html.unescape(found.group(0))


def _again(page: str) -> dict[str, str]:
    """The hidden fields of a refused page, to send its form again after merging."""
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    seen, opened_as = SEEN_RE.search(page), OPENED_AS_RE.search(page)
    assert token and seen and opened_as
    return {"csrf_token": token.group(1), "seen": seen.group(1), "opened_as": opened_as.group(1)}


@pytest.mark.parametrize("first", ["nadia", "omar"])
def test_two_organisers_saving_one_draft_text_the_second_sees_the_first_before_saving(
    app, make_initiative, first
):
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT})
    clients = _organisers(app)
    second = "omar" if first == "nadia" else "nadia"
    typed = {
        "nadia": TEXT | {"body": "Vi föreslår säkra övergångar och träd."},
        "omar": TEXT | {"title": "Tryggare och grönare Amiralsgatan"},
    }
    forms = {who: opened(client, SV) for who, client in clients.items()}

    assert clients[first].post(SV, data=forms[first] | typed[first]).status_code == 302
    refused = clients[second].post(SV, data=forms[second] | typed[second])

    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert CHANGED in page
    # The first one's text is shown as stored now; the second one's is kept in her form.
    panel, form = _stored_panel(page), _form(page)
    assert typed[first]["title"] in panel and typed[first]["body"] in panel
    assert typed[second]["title"] in form and typed[second]["body"] in form
    assert _stored(app, "sv") == typed[first]
    assert _logged(app, "initiative.text_saved") == [f"{first}@example.org"]

    # Merged by hand and sent from the refused page: saved, made from what it showed.
    merged = typed[first] | {"title": typed["omar"]["title"], "body": typed["nadia"]["body"]}
    again = clients[second].post(SV, data=_again(page) | merged)
    assert again.status_code == 302
    assert _stored(app, "sv") == merged
    assert _logged(app, "initiative.text_saved") == [
        f"{first}@example.org",
        f"{second}@example.org",
    ]


@pytest.mark.parametrize("first", ["nadia", "omar"])
def test_two_organisers_correcting_one_published_text_the_second_sees_the_first(
    app, make_initiative, first
):
    """Both corrections recorded, the second against a text it never saw, made its
    "previous text" on the record one its author had not read."""
    make_initiative(texts={"sv": TEXT})
    clients = _organisers(app)
    second = "omar" if first == "nadia" else "nadia"
    typed = {
        "nadia": TEXT | {"body": TEXT["body"] + " Och träd.", "note": "Träden fattades"},
        "omar": TEXT | {"summary": "Säkra övergångar för alla.", "note": "Tydligare"},
    }
    forms = {who: opened(client, SV) for who, client in clients.items()}

    assert clients[first].post(SV, data=forms[first] | typed[first]).status_code == 302
    refused = clients[second].post(SV, data=forms[second] | typed[second])

    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert CHANGED in page
    assert typed[first]["summary"] in _stored_panel(page)
    assert typed[second]["summary"] in _form(page) and typed[second]["note"] in _form(page)
    (only,) = _amendments(app)
    assert only.actor == f"{first}@example.org" and only.previous_text == TEXT

    again = clients[second].post(SV, data=_again(page) | typed[second])
    assert again.status_code == 302
    earlier, later = _amendments(app)
    assert later.actor == f"{second}@example.org"
    # Its previous text is the one the refused page showed her: the first correction.
    assert later.previous_text == {k: typed[first][k] for k in TEXT}
    assert later.previous_hash == earlier.new_hash


@pytest.mark.parametrize("state", [InitiativeState.DRAFT, InitiativeState.COLLECTING])
def test_two_organisers_adding_the_same_language_the_second_sees_the_first(
    app, make_initiative, state
):
    make_initiative(state=state, texts={"sv": TEXT})
    clients = _organisers(app)
    note = {"note": "Engelsk översättning"} if state == InitiativeState.COLLECTING else {}
    forms = {who: opened(client, EN) for who, client in clients.items()}
    theirs = ENGLISH | {"title": "A safer Amiralsgatan", "body": "We ask for safe crossings."}

    assert clients["nadia"].post(EN, data=forms["nadia"] | ENGLISH | note).status_code == 302
    refused = clients["omar"].post(EN, data=forms["omar"] | theirs | note)

    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert ENGLISH["body"] in _stored_panel(page) and theirs["body"] in _form(page)
    assert _stored(app, "en") == ENGLISH
    saved = "initiative.amended" if note else "initiative.text_saved"
    assert _logged(app, saved) == ["nadia@example.org"]


@pytest.mark.parametrize("state", [InitiativeState.DRAFT, InitiativeState.COLLECTING])
def test_a_text_form_sent_twice_is_saved_once_and_not_refused(app, make_initiative, state):
    """A double click: the second request finds the text it sends already stored."""
    make_initiative(state=state, texts={"sv": TEXT})
    client = logged_in(app, role="organiser", email="nadia@example.org")
    note = {"note": "Stavfel"} if state == InitiativeState.COLLECTING else {}
    form = opened(client, SV) | TEXT | {"body": "Vi föreslår säkra övergångar."} | note

    assert client.post(SV, data=form).status_code == 302
    twice = client.post(SV, data=form)
    assert twice.status_code == 302
    dashboard = client.get(twice.headers["Location"]).get_data(as_text=True)
    assert "Inget ändrades: texten lyder redan så" in dashboard
    assert _stored(app, "sv")["body"] == "Vi föreslår säkra övergångar."
    if note:
        assert "rättelsen är redan sparad" in dashboard
        assert len(_amendments(app)) == 1
        assert _logged(app, "initiative.amended") == ["nadia@example.org"]
    else:
        assert _logged(app, "initiative.text_saved") == ["nadia@example.org"]


def test_a_correction_that_changes_nothing_on_the_page_it_showed_is_still_bad_input(
    app, make_initiative
):
    """Not a double click: the text the page showed, sent back unchanged."""
    make_initiative(texts={"sv": TEXT})
    client = logged_in(app, role="organiser")
    unchanged = post_text(client, SV, **TEXT, note="Inget")
    assert unchanged.status_code == 400
    assert "oförändrad" in unchanged.get_data(as_text=True)
    assert _amendments(app) == []


def test_removing_a_language_changed_since_the_page_was_opened_is_refused(app, make_initiative):
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT, "en": ENGLISH})
    clients = _organisers(app)
    remove = EN + "/remove"
    shown = opened(clients["nadia"], EN)
    better = ENGLISH | {"body": "We propose safe crossings and trees."}
    assert post_text(clients["omar"], EN, **better).status_code == 302

    refused = clients["nadia"].post(remove, data=shown)
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "inte borttagen" in page and better["body"] in _form(page)
    assert _stored(app, "en") == better

    # From the refused page (it showed the text as it is now): removed, once.
    again = _again(page)
    assert clients["nadia"].post(remove, data=again).status_code == 302
    assert _stored(app, "en") is None
    twice = clients["nadia"].post(remove, data=again)
    assert twice.status_code == 302
    assert "redan borttagen" in clients["nadia"].get(twice.headers["Location"]).get_data(
        as_text=True
    )
    assert _logged(app, "initiative.text_removed") == ["nadia@example.org"]


def test_saving_a_language_removed_since_the_page_was_opened_is_refused(app, make_initiative):
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT, "en": ENGLISH})
    clients = _organisers(app)
    shown = opened(clients["nadia"], EN)
    assert clients["omar"].post(EN + "/remove", data=opened(clients["omar"], EN)).status_code == 302

    typed = ENGLISH | {"title": "Safer streets"}
    refused = clients["nadia"].post(EN, data=shown | typed)
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "Ingen text på" in _stored_panel(page) and typed["title"] in _form(page)
    assert _stored(app, "en") is None


@pytest.mark.parametrize("seen", [None, "", "0" * 63, "x" * 64])
def test_a_text_form_without_the_version_of_its_page_is_refused(app, make_initiative, seen):
    """A page from before the version existed, or a forged one: nothing to compare
    with, so nothing is saved nor removed; the stored text is shown."""
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT, "en": ENGLISH})
    client = logged_in(app, role="organiser")
    form = opened(client, EN)
    if seen is None:
        del form["seen"]
    else:
        form["seen"] = seen

    saved = client.post(EN, data=form | ENGLISH | {"title": "Changed"})
    assert saved.status_code == 400
    page = saved.get_data(as_text=True)
    assert "saknar uppgifter om vilken text sidan visade" in page
    assert ENGLISH["body"] in _stored_panel(page)
    removed = client.post(EN + "/remove", data=form)
    assert removed.status_code == 400
    assert "saknar uppgifter om vilken text sidan visade" in removed.get_data(as_text=True)
    assert _stored(app, "en") == ENGLISH


def test_the_swedish_text_cannot_be_removed(app, make_initiative):
    """Its page has no such button; a form sent anyway is bad input (400), says why, and
    leaves the text and the log as they were."""
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT})
    client = logged_in(app, role="organiser")
    form = opened(client, SV)
    logged = _actions(app)
    refused = client.post(SV + "/remove", data=form)
    assert refused.status_code == 400
    assert "Den svenska texten behövs alltid." in refused.get_data(as_text=True)
    assert _stored(app, "sv") == TEXT
    assert _actions(app) == logged


def _actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_page_names_the_language_in_swedish(app, make_initiative):
    """The admin is in Swedish: "Text på arabiska", not the language's own name inside a
    Swedish sentence ("Text på العربية")."""
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT})
    client = _organisers(app)["nadia"]
    for code, name in (("sv", "svenska"), ("ar", "arabiska"), ("fa", "persiska")):
        page = client.get(f"/admin/initiatives/amiralsgatan/text/{code}").get_data(as_text=True)
        assert f"Text på {name}" in page


PUBLISHED_SINCE = "Initiativet har publicerats sedan du öppnade sidan"


def test_a_draft_text_saved_after_another_organiser_published_it_is_refused_as_a_conflict(
    app, make_initiative
):
    """Nadia edits the draft's text while Omar publishes it: her page had no reason field
    (a draft needs none), so her save is not bad input but a conflict.  Nothing is
    stored; her text comes back with the reason field a correction needs."""
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT})
    clients = _organisers(app)
    shown = opened(clients["nadia"], SV)
    lifecycle = "/admin/initiatives/amiralsgatan/lifecycle"
    published = post_form(clients["omar"], lifecycle, "/admin/initiatives/amiralsgatan/publish")
    assert published.status_code == 302
    frozen = _text_hash(app)

    typed = TEXT | {"body": "Vi föreslår säkra övergångar och träd."}
    refused = clients["nadia"].post(SV, data=shown | typed)

    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert PUBLISHED_SINCE in page and "Skriv vad som rättas och varför." not in page
    form = _form(page)
    assert typed["body"] in form and 'name="note"' in form
    assert TEXT["body"] in _stored_panel(page)
    assert _stored(app, "sv") == TEXT and _text_hash(app) == frozen
    assert _amendments(app) == [] and _logged(app, "initiative.text_saved") == []

    # From the refused page, with a reason: a correction, on the record.
    again = clients["nadia"].post(SV, data=_again(page) | typed | {"note": "Träden fattades"})
    assert again.status_code == 302
    (amendment,) = _amendments(app)
    assert amendment.actor == "nadia@example.org" and amendment.previous_text == TEXT
    assert _stored(app, "sv") == typed


MOVED_ON = "Initiativet har bytt läge sedan du öppnade sidan och är nu"


def _moved_to(app, state: InitiativeState) -> None:
    """The initiative's state changed by someone else (its own test covers the how)."""
    with app.app_context():
        db.session.scalars(sa.select(Initiative)).one().state = state
        db.session.commit()


def _everything_logged(app) -> list[tuple[str, str]]:
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))
        return [(e.action, e.actor) for e in events]


@pytest.mark.parametrize(
    ("opened_in", "now", "named"),
    [
        (InitiativeState.DRAFT, InitiativeState.WITHDRAWN, "tillbakadraget"),
        # Published and closed since: the draft's page had not seen either.
        (InitiativeState.DRAFT, InitiativeState.CLOSED, "stängt"),
        (InitiativeState.COLLECTING, InitiativeState.CLOSED, "stängt"),
        (InitiativeState.COLLECTING, InitiativeState.SUBMITTED, "inlämnat"),
        (InitiativeState.COLLECTING, InitiativeState.WITHDRAWN, "tillbakadraget"),
    ],
)
def test_a_text_saved_after_the_initiative_moved_on_is_refused_with_what_was_typed_kept(
    app, make_initiative, opened_in, now, named
):
    """Nadia writes a draft's text or a correction while the initiative leaves the states
    its text can change in.  Her save is a conflict, told as such with the state it is
    in now; the stored text is shown and what she typed (her reason too) comes back to
    be copied, not lost behind a bare error page.  Sent again, it is refused again."""
    make_initiative(state=opened_in, texts={"sv": TEXT})
    client = logged_in(app, role="organiser", email="nadia@example.org")
    shown = opened(client, SV)
    note = {"note": "Träden fattades"} if opened_in == InitiativeState.COLLECTING else {}
    typed = TEXT | {"body": "Vi föreslår säkra övergångar och träd."} | note
    _moved_to(app, now)
    frozen, logged = _text_hash(app), _everything_logged(app)

    refused = client.post(SV, data=shown | typed)

    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert f"{MOVED_ON} {named}" in html.unescape(page)
    assert "Det här går inte att göra i initiativets nuvarande läge" not in page
    form = _form(page)
    assert typed["body"] in form and TEXT["title"] in form
    if note:
        assert note["note"] in form
    assert TEXT["body"] in _stored_panel(page)
    assert _stored(app, "sv") == TEXT and _text_hash(app) == frozen
    assert _amendments(app) == [] and _everything_logged(app) == logged

    # From the refused page: refused again, nothing changed.
    again = client.post(SV, data=_again(page) | typed)
    assert again.status_code == 409
    assert MOVED_ON in html.unescape(again.get_data(as_text=True))
    assert _stored(app, "sv") == TEXT and _text_hash(app) == frozen
    assert _amendments(app) == [] and _everything_logged(app) == logged


def test_a_correction_saved_after_another_organiser_closed_the_collection_keeps_its_text(
    app, make_initiative
):
    """The same through the admin: Omar closes the collection while Nadia writes."""
    make_initiative(texts={"sv": TEXT})
    clients = _organisers(app)
    shown = opened(clients["nadia"], SV)
    lifecycle = "/admin/initiatives/amiralsgatan/lifecycle"
    closed = post_form(clients["omar"], lifecycle, "/admin/initiatives/amiralsgatan/close")
    assert closed.status_code == 302
    frozen, logged = _text_hash(app), _everything_logged(app)

    typed = TEXT | {"summary": "Säkra övergångar för alla.", "note": "Tydligare"}
    refused = clients["nadia"].post(SV, data=shown | typed)

    assert refused.status_code == 409
    page = html.unescape(refused.get_data(as_text=True))
    assert f"{MOVED_ON} stängt" in page
    assert typed["summary"] in _form(page) and typed["note"] in _form(page)
    assert TEXT["summary"] in _stored_panel(page)
    assert _stored(app, "sv") == TEXT and _text_hash(app) == frozen
    assert _amendments(app) == [] and _everything_logged(app) == logged


@pytest.mark.parametrize(
    ("now", "named"),
    [
        (InitiativeState.COLLECTING, "under insamling"),
        (InitiativeState.WITHDRAWN, "tillbakadraget"),
    ],
)
def test_removing_a_language_after_the_initiative_moved_on_is_refused_with_the_text_shown(
    app, make_initiative, now, named
):
    """Nadia removes the English text of a draft that was published (or withdrawn) since
    she opened its page: refused as a conflict naming the state, the text still there
    and shown; the page is the one of that state (a correction's, with its reason)."""
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT, "en": ENGLISH})
    client = logged_in(app, role="organiser", email="nadia@example.org")
    remove = EN + "/remove"
    shown = opened(client, EN)
    _moved_to(app, now)
    logged = _everything_logged(app)

    for sent in (shown, {"csrf_token": shown["csrf_token"]}):
        refused = client.post(remove, data=sent)
        assert refused.status_code == 409
        page = html.unescape(refused.get_data(as_text=True))
        assert f"{MOVED_ON} {named}, så texten kan inte tas bort" in page
        form = _form(page)
        assert ENGLISH["body"] in form
        assert ('name="note"' in form) == (now == InitiativeState.COLLECTING)
        assert _stored(app, "en") == ENGLISH and _everything_logged(app) == logged
