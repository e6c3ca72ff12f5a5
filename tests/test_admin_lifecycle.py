"""An initiative's lifecycle in the admin: every transition, its refusals, frozen texts."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from html import unescape
from urllib.parse import unquote

import flask_babel
import pytest
import sqlalchemy as sa

from initiatives import clock, lifecycle, texts
from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative, InitiativeState, Signature

from .admin_helpers import logged_in, opened, post_form, post_text
from .conftest import csrf_token

TEXT = {
    "title": "Tryggare Amiralsgatan",
    "summary": "Säkra övergångar.",
    "body": "Vi föreslår att Tekniska nämnden bygger säkra övergångar.",
}


def _get(app, slug="amiralsgatan") -> Initiative:
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative).where(Initiative.slug == slug)).one()
        db.session.expunge(initiative)
        return initiative


def _actions(app, slug="amiralsgatan") -> list[tuple[str, str]]:
    with app.app_context():
        initiative = _get(app, slug)
        events = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.initiative_id == initiative.id)
            .order_by(AuditEvent.id)
        )
        return [(e.action, e.actor) for e in events]


def _draft(client, slug="amiralsgatan", **settings):
    data = {"slug": slug, "threshold": "2", "period_months": "3", "target_body": "Tekniska nämnden"}
    data |= settings
    response = post_form(client, "/admin/initiatives/new", "/admin/initiatives/new", **data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def _page(client, slug="amiralsgatan"):
    return f"/admin/initiatives/{slug}/lifecycle"


def test_from_draft_to_answered_with_audit(app, sign, deliver, smtp):
    client = logged_in(app, role="organiser", email="nadia@example.org")
    _draft(client)
    assert _get(app).state == InitiativeState.DRAFT
    # A draft is not public.
    assert app.test_client().get("/i/amiralsgatan").status_code == 404

    # Publishing needs the Swedish text.
    refused = post_form(client, _page(client), "/admin/initiatives/amiralsgatan/publish")
    assert refused.status_code == 409
    assert "på svenska" in refused.get_data(as_text=True)
    saved = post_text(
        client,
        "/admin/initiatives/amiralsgatan/text/sv",
        **TEXT,
    )
    assert saved.status_code == 302
    preview = client.get("/admin/initiatives/amiralsgatan/preview")
    assert preview.status_code == 200 and "Förhandsvisning" in preview.get_data(as_text=True)
    assert TEXT["title"] in preview.get_data(as_text=True)

    assert (
        post_form(client, _page(client), "/admin/initiatives/amiralsgatan/publish").status_code
        == 302
    )
    published = _get(app)
    assert published.state == InitiativeState.COLLECTING
    with app.app_context():
        assert published.text_hash == db.session.get(Initiative, published.id).compute_text_hash()
    assert published.closes_at == clock.add_months(published.opens_at, 3)
    assert app.test_client().get("/i/amiralsgatan").status_code == 200

    # Submitting needs a closed initiative that reached the threshold.
    today = lifecycle.local_date(clock.utcnow()).isoformat()
    early = post_form(
        client, _page(client), "/admin/initiatives/amiralsgatan/submit",
        submitted_on=today, reference="TN-2026-1",
    )  # fmt: skip
    assert early.status_code == 409
    assert (
        post_form(client, _page(client), "/admin/initiatives/amiralsgatan/close").status_code == 302
    )
    assert _get(app).state == InitiativeState.CLOSED
    short = post_form(
        client, _page(client), "/admin/initiatives/amiralsgatan/submit",
        submitted_on=today, reference="TN-2026-1",
    )  # fmt: skip
    assert short.status_code == 409 and "0 av 2" in short.get_data(as_text=True)

    with app.app_context():  # two confirmed signatures, made while collecting
        initiative = db.session.get(Initiative, published.id)
        initiative.confirmed_count = 2
        db.session.commit()
    future = (date.fromisoformat(today) + timedelta(days=2)).isoformat()
    assert post_form(
        client, _page(client), "/admin/initiatives/amiralsgatan/submit",
        submitted_on=future, reference="TN-2026-1",
    ).status_code == 409  # fmt: skip
    done = post_form(
        client, _page(client), "/admin/initiatives/amiralsgatan/submit",
        submitted_on=today, reference="TN-2026-1",
    )  # fmt: skip
    assert done.status_code == 302
    submitted = _get(app)
    assert submitted.state == InitiativeState.SUBMITTED
    assert submitted.city_reference == "TN-2026-1"
    # Partners' pages (the JSON) say it is handed in, and when; no answer yet.
    public = app.test_client().get("/api/initiatives/amiralsgatan").get_json()
    assert public["state"] == "submitted" and public["submitted_on"] == today
    assert public["answered_on"] is None and public["answer_pdf"] is None

    # Submitted initiatives cannot be withdrawn.
    assert (
        post_form(
            client, _page(client), "/admin/initiatives/amiralsgatan/withdraw", reason="x"
        ).status_code
        == 409
    )

    # The answer, with its PDF.
    # Larger than MAX_CONTENT_LENGTH (64 KiB): the answer upload has its own limit.
    pdf = b"%PDF-1.4\n%" + b"0" * 200_000 + b"\n%%EOF\n"
    token_page = client.get(_page(client)).get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', token_page).group(1)
    from io import BytesIO

    answered = client.post(
        "/admin/initiatives/amiralsgatan/answer",
        data={
            "csrf_token": token,
            "answered_on": today,
            "text": "Nämnden bifaller förslaget delvis.",
            "document": (BytesIO(pdf), "svar.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert answered.status_code == 302, answered.get_data(as_text=True)
    assert _get(app).state == InitiativeState.ANSWERED
    # The Läge page says the work is done (it showed only the steps, the last marked).
    done = " ".join(client.get(_page(client)).get_data(as_text=True).split())
    assert "Nämnden har svarat" in done and "inget steg återstår" in done
    assert 'href="/i/amiralsgatan">initiativets sida</a>' in done
    download = client.get("/admin/initiatives/amiralsgatan/answer.pdf")
    assert download.status_code == 200 and download.data == pdf
    public = app.test_client().get("/api/initiatives/amiralsgatan").get_json()
    assert public["answered_on"] == today and public["submitted_on"] == today
    assert public["answer_pdf"] == "http://localhost/i/amiralsgatan/answer.pdf"
    assert app.test_client().get("/i/amiralsgatan/answer.pdf").data == pdf

    actions = _actions(app)
    assert [a for a, _ in actions if a.startswith("initiative.")] == [
        "initiative.created",
        "initiative.text_saved",
        "initiative.published",
        "initiative.closed",
        "initiative.submitted",
        "initiative.answered",
    ]
    assert all(who == "nadia@example.org" for _, who in actions)


@pytest.mark.parametrize("state", ["draft", "collecting"])
def test_the_preview_links_only_to_what_exists(app, make_initiative, state):
    """A draft's QR code, poster and flyers are served once it is published: its preview
    showed a broken image and links that answered 404.  It says when they come instead;
    a published initiative's preview shows them, and each one answers."""
    make_initiative(state=state)
    client = logged_in(app)
    page = client.get("/admin/initiatives/amiralsgatan/preview").get_data(as_text=True)
    wanted = re.findall(r'(?:src|href)="(/i/amiralsgatan/[^"]+)"', page)
    for url in wanted:
        assert client.get(url.replace("&amp;", "&")).status_code == 200, url
    if state == "draft":
        assert not wanted
        assert "QR-koden och materialet att skriva ut finns när initiativet är publicerat" in page
    else:
        assert any("qr.svg" in url for url in wanted) and any("poster" in url for url in wanted)


def test_answer_upload_must_be_a_pdf(app, make_initiative):
    make_initiative(state=InitiativeState.SUBMITTED)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        initiative.submitted_at = clock.utcnow() - timedelta(days=3)
        try:
            lifecycle.answer(
                initiative,
                "test",
                answered_on=lifecycle.local_date(clock.utcnow()),
                text="Svar",
                document=b"<html>not a pdf</html>",
            )
        except lifecycle.TransitionError as exc:
            assert "inte en PDF" in str(exc)
        else:
            raise AssertionError("a non-PDF was accepted")


@pytest.mark.parametrize(
    ("filename", "stored"),
    [
        ("Svar från Tekniska nämnden " * 10 + "om Amiralsgatan.pdf", ".pdf"),
        ("قرار " * 60 + ".PDF", ".PDF"),
        ("svar-utan-filändelse", "svar-utan-filändelse.pdf"),
        (".pdf", "svar.pdf"),
    ],
)
def test_an_answer_pdf_keeps_its_pdf_name_however_long(app, make_initiative, filename, stored):
    """A long name is cut in its stem, never through ".pdf": downloaded, the file must
    still open as the PDF it is."""
    make_initiative(state=InitiativeState.SUBMITTED)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        initiative.submitted_at = clock.utcnow() - timedelta(days=3)
        lifecycle.answer(
            initiative,
            "test",
            answered_on=lifecycle.local_date(clock.utcnow()),
            text="Svar",
            document=b"%PDF-1.4\n%%EOF\n",
            filename=filename,
        )
        db.session.commit()
        name = lifecycle.answer_document(initiative).filename
    assert len(name) <= 200 and name.endswith(stored)
    assert name.removesuffix(stored) in filename  # the start of the name, as given


@pytest.mark.parametrize("filename", ["Odpowiedź nämnden.pdf", "قرار اللجنة.pdf"])
def test_an_answer_named_beyond_latin_1_downloads_under_its_name(app, make_initiative, filename):
    """A header value must be Latin-1 (gunicorn refuses others with a 500): the name goes
    as RFC 6266's filename*, with an ASCII fallback."""
    make_initiative(state=InitiativeState.SUBMITTED)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        initiative.submitted_at = clock.utcnow() - timedelta(days=3)
        pdf = b"%PDF-1.4\n%%EOF\n"
        lifecycle.answer(
            initiative,
            "test",
            answered_on=lifecycle.local_date(clock.utcnow()),
            text="Svar",
            document=pdf,
            filename=filename,
        )
        db.session.commit()
    client = logged_in(app, role="organiser")
    download = client.get("/admin/initiatives/amiralsgatan/answer.pdf")
    assert download.status_code == 200 and download.data == pdf
    header = download.headers["Content-Disposition"]
    header.encode("latin-1")  # what a WSGI server can send
    assert header.startswith("attachment; filename=")
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == filename
    assert "public" not in download.headers.get("Cache-Control", "")


def test_a_list_cannot_be_handed_in_before_the_collection_closed(app, make_initiative):
    make_initiative(threshold=1, opens_days_ago=30, confirmed_count=1)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        lifecycle.close(initiative, "test")
        db.session.commit()
        today = lifecycle.local_date(clock.utcnow())
        with pytest.raises(lifecycle.TransitionError, match="före den dag insamlingen stängdes"):
            lifecycle.submit(
                initiative, "test", submitted_on=today - timedelta(days=10), reference="R-1"
            )
        db.session.rollback()
        lifecycle.submit(initiative, "test", submitted_on=today, reference="R-1")
        db.session.commit()
        assert initiative.state == InitiativeState.SUBMITTED


def test_an_address_longer_than_any_slug_is_not_found_not_its_first_80_characters(
    app, make_initiative
):
    """Slugs are at most 80 characters: a longer address in the admin names no initiative,
    not the one whose slug is its start."""
    slug = "amiralsgatan-" + "a" * 67
    make_initiative(slug)
    client = logged_in(app, role="organiser")
    assert client.get(f"/admin/initiatives/{slug}").status_code == 200
    for longer in (slug + "b", slug + "-2026"):
        assert client.get(f"/admin/initiatives/{longer}").status_code == 404
        assert client.get(f"/admin/initiatives/{longer}/lifecycle").status_code == 404


def test_a_correction_cannot_blank_the_swedish_summary(app):
    """Publishing needs the Swedish title, summary and proposal; a correction must not
    take away what publishing required (the public page and the pack show the summary).
    Another language may go without one, as when publishing."""
    client = logged_in(app)
    _draft(client)
    url = "/admin/initiatives/amiralsgatan/text/sv"
    post_text(client, url, **TEXT)
    english = "/admin/initiatives/amiralsgatan/text/en"
    post_text(client, english, title="Safer Amiralsgatan", summary="", body="We propose.")
    post_form(client, _page(client), "/admin/initiatives/amiralsgatan/publish")
    frozen = _get(app).text_hash

    blanked = post_text(client, url, **(TEXT | {"summary": "  ", "note": "Kortare"}))
    assert blanked.status_code == 400  # bad input, as a form error: not a conflict
    assert "sammanfattning" in blanked.get_data(as_text=True)
    assert _get(app).text_hash == frozen
    with app.app_context():
        assert texts.amendments(db.session.get(Initiative, _get(app).id)) == []

    fixed = post_text(
        client, english, title="Safer Amiralsgatan", summary="", body="We propose it.",
        note="Typo",
    )  # fmt: skip
    assert fixed.status_code == 302

    # Closed since the page was opened (another organiser): that is a conflict.
    form = opened(client, url)
    post_form(client, _page(client), "/admin/initiatives/amiralsgatan/close")
    late = client.post(url, data=TEXT | {"note": "Stavfel"} | form)
    assert late.status_code == 409


def test_published_text_cannot_be_edited_only_amended(app):
    client = logged_in(app)
    _draft(client)
    url = "/admin/initiatives/amiralsgatan/text/sv"
    post_text(client, url, **TEXT)
    post_form(client, _page(client), "/admin/initiatives/amiralsgatan/publish")
    frozen = _get(app).text_hash

    with app.app_context():
        initiative = db.session.get(Initiative, _get(app).id)
        try:
            texts.set_text(initiative, "x", "sv", title="Ändrad", summary="", body="")
        except lifecycle.TransitionError:
            pass
        else:
            raise AssertionError("a published text was edited")
        db.session.rollback()

    # In the admin the same page now records an amendment, which needs a reason.
    no_note = post_text(client, url, **(TEXT | {"body": TEXT["body"] + " Och träd."}))
    assert no_note.status_code == 400
    amended = post_text(
        client, url, **(TEXT | {"body": TEXT["body"] + " Och träd.", "note": "Stavfel"})
    )
    assert amended.status_code == 302
    after = _get(app)
    assert after.text_hash != frozen
    with app.app_context():
        amendments = texts.amendments(db.session.get(Initiative, after.id))
        assert len(amendments) == 1
        assert amendments[0].previous_hash == frozen and amendments[0].new_hash == after.text_hash
        assert amendments[0].previous_text["body"] == TEXT["body"]
    assert "initiative.amended" in [a for a, _ in _actions(app)]

    # Settings that change what people sign are locked too.
    locked = post_form(
        client,
        "/admin/initiatives/amiralsgatan/settings",
        "/admin/initiatives/amiralsgatan/settings",
        slug="amiralsgatan",
        threshold="500",
        period_months="3",
        target_body="Tekniska nämnden",
    )
    assert locked.status_code == 409
    assert _get(app).threshold == 2


def test_a_published_initiatives_locked_settings_are_shown_not_offered_as_fields(
    app, make_initiative
):
    """After publishing, the address, number, period and committee cannot change: they
    are shown as text, not as fields that take a change only to refuse it on saving.  The
    form still sends them as they are (hidden), so a page opened before publishing, whose
    fields were changed, is still refused (409) rather than saved without them."""
    make_initiative(threshold=150, official_url="https://malmo.se/gammal")
    client = logged_in(app)
    settings = "/admin/initiatives/amiralsgatan/settings"
    html = client.get(settings).get_data(as_text=True)
    start = html.index('<form method="post" novalidate class="narrow">')
    form = html[start : html.index("</form>", start)]
    for name in ("slug", "threshold", "period_months", "target_body"):
        assert re.search(rf'<input[^>]*name="{name}"[^>]*type="hidden"', form) or re.search(
            rf'<input[^>]*type="hidden"[^>]*name="{name}"', form
        ), name
        assert not re.search(rf'<(input|select)(?![^>]*type="hidden")[^>]*name="{name}"', form)
    shown = " ".join(html.split())
    assert "/i/amiralsgatan" in shown and "150" in shown and "Tekniska nämnden" in shown
    # What the page sends as it is: the link changes, the rest stays.
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value:
            fields[name.group(1)] = unescape(value.group(1))
    fields.pop("csrf_token")
    assert fields["threshold"] == "150" and fields["slug"] == "amiralsgatan"
    sent = post_form(
        client, settings, settings, **(fields | {"official_url": "https://malmo.se/ny"})
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)[:500]
    assert _get(app).official_url == "https://malmo.se/ny" and _get(app).threshold == 150


def test_refusals_in_every_state(app, make_initiative):
    actor = "test"
    today = lifecycle.local_date(clock.utcnow())
    cases = {
        InitiativeState.DRAFT: ["close", "submit", "answer", "amend"],
        InitiativeState.COLLECTING: ["publish", "submit", "answer"],
        InitiativeState.CLOSED: ["publish", "close", "answer", "amend"],
        InitiativeState.SUBMITTED: ["publish", "close", "submit", "withdraw", "amend"],
        InitiativeState.ANSWERED: ["publish", "close", "submit", "answer", "withdraw"],
        InitiativeState.WITHDRAWN: ["publish", "close", "submit", "answer", "withdraw"],
    }
    calls = {
        "publish": lambda i: lifecycle.publish(i, actor),
        "close": lambda i: lifecycle.close(i, actor),
        "submit": lambda i: lifecycle.submit(i, actor, submitted_on=today, reference="R"),
        "answer": lambda i: lifecycle.answer(i, actor, answered_on=today, text="Svar"),
        "withdraw": lambda i: lifecycle.withdraw(i, actor, reason="Skäl"),
        "amend": lambda i: texts.amend(i, actor, "sv", title="T", summary="S", body="B", note="N"),
    }
    for state, refused in cases.items():
        make_initiative(f"s-{state}", state=state)
        with app.app_context():
            initiative = db.session.scalars(
                sa.select(Initiative).where(Initiative.slug == f"s-{state}")
            ).one()
            for action in refused:
                try:
                    calls[action](initiative)
                except lifecycle.TransitionError:
                    db.session.rollback()
                else:
                    raise AssertionError(f"{action} was allowed from {state}")
            assert db.session.get(Initiative, initiative.id).state == state
            assert not lifecycle.can(initiative, action) or action == "amend"


def test_withdraw_from_collecting_needs_a_reason(app, make_initiative):
    make_initiative()
    client = logged_in(app)
    page = _page(client)
    assert (
        post_form(client, page, "/admin/initiatives/amiralsgatan/withdraw", reason="").status_code
        == 400
    )
    ok = post_form(
        client, page, "/admin/initiatives/amiralsgatan/withdraw", reason="Föreningen drar tillbaka"
    )
    assert ok.status_code == 302
    assert _get(app).state == InitiativeState.WITHDRAWN
    assert app.test_client().get("/i/amiralsgatan").status_code == 200  # shows it was withdrawn


def test_slug_rules_and_uniqueness(app, make_initiative):
    make_initiative()
    client = logged_in(app)
    taken = post_form(
        client, "/admin/initiatives/new", "/admin/initiatives/new",
        slug="amiralsgatan", threshold="100", period_months="6", target_body="Tekniska nämnden",
    )  # fmt: skip
    assert taken.status_code == 400 and "används redan" in taken.get_data(as_text=True)
    bad = post_form(
        client, "/admin/initiatives/new", "/admin/initiatives/new",
        slug="Ämne med mellanslag", threshold="100", period_months="6", target_body="T",
    )  # fmt: skip
    assert bad.status_code == 400


def test_dashboard_and_texts_render(app, make_initiative, sign):
    make_initiative(
        texts={"sv": TEXT, "ar": {"title": "شارع أميرالسغاتان", "summary": "", "body": "نص"}}
    )
    sign(src="poster")
    client = logged_in(app)
    page = client.get("/admin/initiatives/amiralsgatan")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<svg class="chart"' in html and "poster" in html
    arabic = client.get("/admin/initiatives/amiralsgatan/text/ar").get_data(as_text=True)
    # The Arabic text is typed right to left; its Swedish labels and hints are not.
    form = next(f for f in arabic.split("<form")[1:] if 'id="title"' in f).split("</form>")[0]
    assert sorted(re.findall(r'<(\w+)[^>]*\bdir="rtl"', form)) == ["input", "textarea", "textarea"]
    assert sorted(re.findall(r'<(\w+)[^>]*\blang="ar"', form)) == ["input", "textarea", "textarea"]


def test_only_the_answer_upload_may_be_large(app, make_initiative):
    make_initiative()
    client = logged_in(app)
    too_big = post_form(
        client, _page(client), "/admin/initiatives/amiralsgatan/withdraw", reason="x" * 100_000
    )
    assert too_big.status_code == 413
    assert _get(app).state == InitiativeState.COLLECTING


def _answer_upload(client, token: str | None) -> object:
    """The committee's answer with a PDF over MAX_CONTENT_LENGTH (64 KiB)."""
    from io import BytesIO

    pdf = b"%PDF-1.4\n%" + b"0" * 200_000 + b"\n%%EOF\n"
    data = {"answered_on": date.today().isoformat(), "text": "Nämnden bifaller förslaget."}
    data["document"] = (BytesIO(pdf), "svar.pdf")
    if token is not None:
        data["csrf_token"] = token
    return client.post(
        "/admin/initiatives/amiralsgatan/answer", data=data, content_type="multipart/form-data"
    )


def test_a_large_answer_upload_needs_an_organisers_session(app, make_initiative):
    """The answer's larger limit is for organisers only.  Anyone else's large body is
    refused by its length before the CSRF check would read (and spool) it: with no
    session at all, or with one that never logged in (the login page's).  She may be an
    organiser whose browser lost its session cookie (closed and opened again): she is
    told, as for any form sent after the session ended, that she was logged out and
    nothing was saved, not that she sent too much text."""
    make_initiative()
    for client, token in (
        (app.test_client(), None),
        (stranger := app.test_client(), csrf_token(stranger, "/admin/login")),
    ):
        response = _answer_upload(client, token)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login?next=")
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "loggats ut" in page and "sparades inte" in page
        assert "För mycket text" not in page
    assert _get(app).state == InitiativeState.COLLECTING


def test_an_answer_over_the_upload_limit_is_refused_naming_the_limit(app, make_initiative):
    """Logged in, a file beyond ADMIN_UPLOAD_MAX_BYTES: a 413 that speaks of the file
    and its largest size, not of "too much text"; nothing changes."""
    make_initiative()
    app.config["ADMIN_UPLOAD_MAX_BYTES"] = 150_000  # the upload is ~200 kB
    client = logged_in(app)
    response = _answer_upload(client, csrf_token(client, _page(client)))
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "Filen är för stor" in page and "0,1 MB" in page and "Inget sparades" in page
    assert "Korta texten" not in page
    assert _get(app).state == InitiativeState.COLLECTING


def test_a_large_answer_sent_after_the_session_went_idle_is_not_saved_and_said_so(
    app, make_initiative
):
    """Her session ended while she chose the file: the usual "you were logged out, not
    saved" and back to the page after the login, not a 413."""
    make_initiative()
    client = logged_in(app)
    token = csrf_token(client, _page(client))
    with client.session_transaction() as session:
        session["admin_seen"] = int(time.time()) - (app.config["ADMIN_IDLE_MINUTES"] + 1) * 60
    response = _answer_upload(client, token)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")
    assert unquote(response.headers["Location"]).endswith(_page(client))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "inaktiv för länge" in page and "sparades inte" in page
    assert _get(app).state == InitiativeState.COLLECTING


def test_a_draft_withdrawn_before_publishing_never_becomes_public(app):
    """Withdrawing is open to drafts, but a text that was never published must not
    appear on the public page, the JSON or a QR code because of it."""
    client = logged_in(app)
    _draft(client)
    url = "/admin/initiatives/amiralsgatan/text/sv"
    post_text(client, url, **(TEXT | {"title": "Ett utkast ingen har sett"}))
    withdrawn = post_form(
        client, _page(client), "/admin/initiatives/amiralsgatan/withdraw", reason="Vi väntar"
    )
    assert withdrawn.status_code == 302
    assert _get(app).state == InitiativeState.WITHDRAWN

    public = app.test_client()
    for path in ("/i/amiralsgatan", "/api/initiatives/amiralsgatan", "/i/amiralsgatan/qr.svg"):
        response = public.get(path)
        assert response.status_code == 404, path
        assert "Ett utkast ingen har sett" not in response.get_data(as_text=True)
    assert client.get("/admin/initiatives/amiralsgatan").status_code == 200


def test_a_list_handed_in_before_the_organiser_pressed_close_can_be_recorded(app, make_initiative):
    """The period ended ten days ago and the list went to the city five days ago; the
    organiser only now closes the initiative in the admin and records the hand-in."""
    make_initiative(threshold=1, opens_days_ago=100, closes_in_days=-10, confirmed_count=1)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        lifecycle.close(initiative, "test")
        today = lifecycle.local_date(clock.utcnow())
        with pytest.raises(lifecycle.TransitionError, match="före den dag insamlingen stängdes"):
            lifecycle.submit(
                initiative, "test", submitted_on=today - timedelta(days=12), reference="R-1"
            )
        db.session.rollback()
        initiative = db.session.scalars(sa.select(Initiative)).one()
        lifecycle.close(initiative, "test")
        lifecycle.submit(
            initiative, "test", submitted_on=today - timedelta(days=5), reference="R-1"
        )
        db.session.commit()
        assert initiative.state == InitiativeState.SUBMITTED
        assert lifecycle.local_date(initiative.submitted_at) == today - timedelta(days=5)


def test_control_characters_in_admin_texts_are_refused_not_a_500(app, make_initiative):
    """A NUL pasted into a text (PostgreSQL refuses it in a text value) gets the form back
    with a message, and what was stored stays as it was."""
    client = logged_in(app)
    _draft(client)
    text_url = "/admin/initiatives/amiralsgatan/text/sv"
    assert post_text(client, text_url, **TEXT).status_code == 302
    for field in ("title", "summary", "body"):
        refused = post_text(client, text_url, **(TEXT | {field: "Säkra\x00 gator"}))
        assert refused.status_code == 400, field
        assert "tecken som inte är tillåtna" in refused.get_data(as_text=True)
    settings = "/admin/initiatives/amiralsgatan/settings"
    good = {"slug": "amiralsgatan", "threshold": "2", "period_months": "3"}
    for field, value in (
        ("target_body", "Tekniska\x00 nämnden"),
        ("official_url", "https://malmo.se/\x00"),
    ):
        fields = good | {"target_body": "Tekniska nämnden", field: value}
        assert post_form(client, settings, settings, **fields).status_code == 400, field

    assert (
        post_form(client, _page(client), "/admin/initiatives/amiralsgatan/publish").status_code
        == 302
    )
    amend = TEXT | {"body": "Nytt förslag.", "note": "Rättat\x00"}
    assert post_text(client, text_url, **amend).status_code == 400
    with app.app_context():
        initiative = db.session.get(Initiative, _get(app).id)
        assert initiative.text("sv").body == TEXT["body"]
        assert initiative.target_body == "Tekniska nämnden"
        assert texts.amendments(initiative) == []

    make_initiative("svar", state=InitiativeState.SUBMITTED, submitted_at=clock.utcnow())
    today = lifecycle.local_date(clock.utcnow()).isoformat()
    answer = post_form(
        client, _page(client, "svar"), "/admin/initiatives/svar/answer",
        answered_on=today, text="Nämnden\x00 svarar",
    )  # fmt: skip
    assert answer.status_code == 400
    assert _get(app, "svar").state == InitiativeState.SUBMITTED


def test_a_translation_added_while_collecting_needs_the_proposal_too(app):
    """Publishing refuses a language with a title but no proposal; a translation added
    later by amendment must not put such a page in front of Somali speakers either."""
    client = logged_in(app)
    _draft(client)
    url = "/admin/initiatives/amiralsgatan/text/sv"
    post_text(client, url, **TEXT)
    post_form(client, _page(client), "/admin/initiatives/amiralsgatan/publish")
    somali = "/admin/initiatives/amiralsgatan/text/so"
    title_only = {"title": "Amiralsgatan oo badbaado leh", "summary": "", "body": ""}
    refused = post_text(client, somali, **title_only, note="Tarjumaad")
    assert refused.status_code == 400
    assert "rubrik och förslag" in refused.get_data(as_text=True)
    assert _get(app).locales == ["sv"]
    full = title_only | {"body": "Waxaan soo jeedinaynaa jid badbaado leh."}
    assert post_text(client, somali, **full, note="Tarjumaad").status_code == 302
    assert _get(app).locales == ["so", "sv"]


@pytest.mark.parametrize(
    ("published_utc", "months", "last_day"),
    [
        # 23:30 on 15 January in Malmö (winter time): the period ends at 23:30 on
        # 15 July (summer time), not half past midnight on the 16th.
        ("2026-01-15T22:30:00+00:00", 6, "2026-07-15"),
        # Already 31 January in Malmö, still the 30th in UTC: three months on is the
        # last day of April, not 1 May.
        ("2026-01-30T23:30:00+00:00", 3, "2026-04-30"),
        # 00:30 on 16 July in Malmö (summer time) → 00:30 on 16 January (winter time),
        # not 23:30 on the 15th.
        ("2026-07-15T22:30:00+00:00", 6, "2027-01-16"),
    ],
)
def test_the_period_is_counted_in_months_of_malmo_time(
    app, make_initiative, published_utc, months, last_day
):
    from datetime import datetime

    from initiatives.printing import last_day as printed_last_day

    make_initiative(state=InitiativeState.DRAFT, period_months=months)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        published = datetime.fromisoformat(published_utc)
        lifecycle.publish(initiative, "test", now=published)
        opens = initiative.opens_at.astimezone(clock.LOCAL_TZ)
        closes = initiative.closes_at.astimezone(clock.LOCAL_TZ)
        assert closes.time() == opens.time()
        assert printed_last_day(initiative).date().isoformat() == last_day


def test_the_log_writes_its_details_as_an_organiser_reads_them(app, make_initiative):
    """ "flagged: ja", not Python's "flagged: False"; counts by channel written out."""
    from initiatives import audit

    initiative = make_initiative()
    with app.app_context():
        audit.record(
            "paper.row_added",
            actor="lina@example.org",
            initiative=db.session.get(Initiative, initiative.id),
            sheet="1",
            flagged=True,
            kept=False,
            note=None,
            counts={"web": 3, "paper": 1},
        )
        db.session.commit()
    page = logged_in(app).get("/admin/initiatives/amiralsgatan/audit").get_data(as_text=True)
    assert "sheet: 1; flagged: ja; kept: nej; note: –; counts: web 3, paper 1" in page
    assert "True" not in page and "False" not in page and "None" not in page


def test_the_same_visible_text_is_one_text_and_one_hash(app):
    """A browser sends a textarea's line breaks as CRLF, a Mac pastes "ö" as "o" and a
    combining mark, an editor leaves spaces at line ends: none of it shows on the page,
    but it changed the text's SHA-256 and let an amendment that changes nothing visible
    be recorded (with a new hash that signers after it carry)."""
    import unicodedata

    client = logged_in(app)
    _draft(client)
    url = "/admin/initiatives/amiralsgatan/text/sv"
    typed = {
        "title": unicodedata.normalize("NFD", "Tryggare gator i Malmö"),
        "summary": "Säkra övergångar.  \r\nOch träd.",
        "body": "Första stycket. \r\n\r\nAndra stycket.\rTredje raden.",
    }
    assert post_text(client, url, **typed).status_code == 302
    stored = _get(app).text("sv")
    assert stored.title == unicodedata.normalize("NFC", "Tryggare gator i Malmö")
    assert stored.summary == "Säkra övergångar.\nOch träd."
    assert stored.body == "Första stycket.\n\nAndra stycket.\nTredje raden."

    post_form(client, _page(client), "/admin/initiatives/amiralsgatan/publish")
    frozen = _get(app).text_hash
    # The same text as another browser sends it (LF, composed): nothing to correct.
    again = {
        "title": "Tryggare gator i Malmö",
        "summary": "Säkra övergångar.\nOch träd.",
        "body": "Första stycket.\n\nAndra stycket.\nTredje raden.  ",
    }
    unchanged = post_text(client, url, **again, note="Inget")
    assert unchanged.status_code == 400
    assert "oförändrad" in unchanged.get_data(as_text=True)
    assert _get(app).text_hash == frozen
    with app.app_context():
        initiative = db.session.get(Initiative, _get(app).id)
        assert texts.amendments(initiative) == []
        # A text stored before texts were normalised (CRLF) is not "corrected" by the
        # same text sent again either.
        initiative.text("sv").body = "Första stycket.\r\n\r\nAndra stycket.\r\nTredje raden."
        db.session.commit()
    assert post_text(client, url, **again, note="Inget").status_code == 400
    assert _get(app).text_hash == frozen


def test_an_empty_answer_file_is_refused_not_silently_left_out(app, make_initiative):
    """An answer is recorded once; a PDF that arrived empty (a download that failed)
    marked the initiative answered without it, and no later step could add it."""
    import io

    make_initiative(state=InitiativeState.SUBMITTED, submitted_at=clock.utcnow())
    client = logged_in(app)
    page = _page(client)
    today = lifecycle.local_date(clock.utcnow()).isoformat()
    fields = {"answered_on": today, "text": "Nämnden bifaller initiativet."}

    def upload(content: bytes):
        return client.post(
            "/admin/initiatives/amiralsgatan/answer",
            data=fields
            | {
                "csrf_token": csrf_token(client, page),
                "document": (io.BytesIO(content), "svar.pdf"),
            },
            content_type="multipart/form-data",
        )

    refused = upload(b"")
    assert refused.status_code == 409  # as a file that is not a PDF
    assert "Filen är tom" in refused.get_data(as_text=True)
    assert _get(app).state == InitiativeState.SUBMITTED
    # The file again, as it should have arrived: the answer is recorded with it.
    assert upload(b"%PDF-1.4\n%%EOF\n").status_code == 302
    with app.app_context():
        document = lifecycle.answer_document(db.session.get(Initiative, _get(app).id))
        assert document is not None and document.filename == "svar.pdf"


@pytest.mark.parametrize(("confirmed", "warned"), [(11, True), (50, False), (51, False)])
def test_closing_below_the_threshold_warns_and_the_hand_in_shows_the_count(
    app, make_initiative, confirmed, warned
):
    """Closed below its threshold, a list cannot be handed in (lifecycle.submit refuses)
    and a closed collection cannot be reopened: the organiser is told so before pressing
    "Stäng insamlingen", and sees the count beside the hand-in form, not only in its
    refusal.  At or above the threshold the warning would only alarm, so it is not shown."""
    make_initiative(threshold=50, opens_days_ago=30, confirmed_count=confirmed)
    client = logged_in(app)
    warning = "Initiativet har 11 av 50 bekräftade underskrifter som behövs."
    page = " ".join(client.get(_page(client)).get_data(as_text=True).split())
    close_panel = page[page.index("<h3>Stäng insamlingen</h3>") :]
    assert (warning in close_panel) is warned
    assert (
        "kan listan inte markeras som inlämnad förrän 50 har bekräftats" in close_panel
    ) is warned
    # That nothing reopens it is said however many have signed: it cannot be undone.
    assert "En stängd insamling kan inte öppnas igen." in close_panel

    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        lifecycle.close(initiative, "test")
        db.session.commit()
    page = " ".join(client.get(_page(client)).get_data(as_text=True).split())
    submit_panel = page[page.index("<h3>Markera som inlämnat</h3>") :]
    assert f"Bekräftade underskrifter: {confirmed} (50 behövs)." in submit_panel
    assert ("Listan kan inte markeras som inlämnad förrän 50 har bekräftats" in submit_panel) is (
        warned
    )


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (InitiativeState.DRAFT, "Utkastet publiceras aldrig."),
        (InitiativeState.COLLECTING, "Insamlingen avbryts och sidan visar"),
        (InitiativeState.CLOSED, "Listan kan inte längre markeras som inlämnad och sidan visar"),
    ],
)
def test_the_withdraw_panel_says_what_withdrawing_ends_in_each_state(
    app, make_initiative, state, says
):
    """Withdrawing a closed initiative cancels no collection (it has ended): it ends the
    hand-in.  A draft was never public.  The panel says what happens in the state it is in."""
    make_initiative(state=state)
    client = logged_in(app)
    page = " ".join(client.get(_page(client)).get_data(as_text=True).split())
    panel = page[page.index("<h3>Dra tillbaka initiativet</h3>") :]
    assert says in panel
    assert ("Insamlingen avbryts" in panel) is (state == InitiativeState.COLLECTING)
    assert "Det går inte att ångra." in panel


def test_the_list_of_initiatives_says_when_an_early_closed_collection_ended(app, make_initiative):
    """The start page's "Stänger" is when collecting ends: for a collection an organiser
    closed before its period ran out, that day, not the period's end months later (the
    dashboard and the public page say the same)."""
    now = clock.utcnow()
    closed_day, period_end = now - timedelta(days=3), now + timedelta(days=80)
    make_initiative(
        state=InitiativeState.CLOSED, opens_days_ago=10, closes_in_days=80, closed_at=closed_day
    )
    make_initiative("parken", opens_days_ago=10, closes_in_days=80)
    client = logged_in(app)
    page = client.get("/admin/").get_data(as_text=True)
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r'<a href="/admin/initiatives/([a-z-]+)">.*?</tr>', page, re.S)
    }
    with app.test_request_context():
        said = {d: flask_babel.format_date(d, "medium") for d in (closed_day, period_end)}
    assert said[closed_day] in rows["amiralsgatan"]
    assert said[period_end] not in rows["amiralsgatan"]
    assert said[period_end] in rows["parken"]


def test_every_page_of_an_initiative_marks_the_tab_it_belongs_to(app, make_initiative, sign):
    """A paper sheet, the duplicate review, a signature's page, a text: each is reached from
    one tab, and the tab bar keeps saying which, as it does on the tab's own page (it
    showed none marked on these, so an organiser deep in a sheet lost her place)."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org")
    client = logged_in(app)
    base = "/admin/initiatives/amiralsgatan"
    today = lifecycle.local_date(clock.utcnow()).isoformat()
    sheet = post_form(
        client, f"{base}/paper", f"{base}/paper", number="1", collected_on=today,
        collected_by="Hodan",
    ).headers["Location"]  # fmt: skip
    with app.app_context():
        public_id = db.session.scalars(sa.select(Signature.public_id)).one()

    def marked(page: str) -> dict[str, str]:
        html = client.get(page).get_data(as_text=True)
        tabs = html.split('class="tabs"', 1)[1].split("</nav>", 1)[0]
        return dict(
            (label, current)
            for current, label in re.findall(
                r'<a href="[^"]+"( aria-current="[a-z]+")?>([^<]+)</a>', tabs
            )
            if current
        )

    assert marked(base) == {"Översikt": ' aria-current="page"'}
    assert marked(f"{base}/paper") == {"Papperslistor": ' aria-current="page"'}
    for page, tab in [
        (sheet, "Papperslistor"),
        (f"{sheet}/edit", "Papperslistor"),
        (f"{base}/paper/review", "Papperslistor"),
        (f"{base}/signatures/{public_id}", "Underskrifter"),
        (f"{base}/text/ar", "Översikt"),
    ]:
        assert marked(page) == {tab: ' aria-current="true"'}, page


def test_the_address_hint_names_the_initiatives_own_address_and_the_rules(app, make_initiative):
    """On a new initiative the hint gives an example and the characters allowed, so the
    first try is not refused for "Bänkar på torget"; on an initiative's settings it names
    that initiative's address, not /i/amiralsgatan."""
    make_initiative("bankar-ortagardstorget")
    client = logged_in(app)

    def hint(page: str) -> str:
        html = client.get(page).get_data(as_text=True)
        return " ".join(re.search(r'id="slug-hint">(.*?)</p>', html, re.S).group(1).split())

    new = hint("/admin/initiatives/new")
    assert "till exempel /i/amiralsgatan" in new
    assert "små bokstäver a–z, siffror och bindestreck" in new
    # Published, the address is shown as it is (no field, so no hint).
    settings = client.get("/admin/initiatives/bankar-ortagardstorget/settings")
    html = settings.get_data(as_text=True)
    assert "<dd>/i/bankar-ortagardstorget</dd>" in html and "amiralsgatan" not in html
    make_initiative("parken", state=InitiativeState.DRAFT)
    draft = hint("/admin/initiatives/parken/settings")
    assert "/i/parken" in draft and "små bokstäver a–z, siffror och bindestreck" in draft


def test_the_preview_banner_stays_swedish_and_left_to_right_over_an_arabic_page(
    app, make_initiative
):
    """The organisers' note above a preview is Swedish on every language's preview: on the
    Arabic one it was set right to left and tagged Arabic with the page (a screen reader
    read Swedish words with an Arabic voice)."""
    make_initiative(
        texts={
            "sv": {"title": "Tryggare Amiralsgatan", "summary": "S.", "body": "B."},
            "ar": {"title": "شارع أميرالسغاتان", "summary": "م.", "body": "ن."},
        }
    )
    client = logged_in(app)
    page = client.get("/admin/initiatives/amiralsgatan/preview?lang=ar").get_data(as_text=True)
    assert re.search(r'<html[^>]* lang="ar"', page) and re.search(r'<html[^>]* dir="rtl"', page)
    banner = re.search(r'<div class="preview-banner"[^>]*>', page).group(0)
    assert 'lang="sv"' in banner and 'dir="ltr"' in banner
