"""Abuse review in the admin, over HTTP on SQLite and PostgreSQL: bursts, a preview of a
selection, invalidate with a reason, the history, restore; the count stays exact, the
dashboard and the submission pack show what happened."""

from __future__ import annotations

import html
import json
import re
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import sqlalchemy as sa

from initiatives import abuse, kiosks, pack, signature_states
from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative, InitiativeState, Signature

from .admin_helpers import PASSWORD, logged_in, post_form
from .conftest import csrf_token
from .privacy_support import BOT, PERSON, Spec, add_signatures, count_is_exact, set_initiative

REVIEW = "/admin/initiatives/amiralsgatan/review"
PREVIEW_LINK = re.compile(r'href="(/admin/initiatives/amiralsgatan/review/preview\?[^"]+)"')


def manifest_counts(app, tmp_path: Path) -> dict[str, int]:
    """Build the submission pack as the admin does and read its manifest's counts."""
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        out = tmp_path / f"pack-{len(list(tmp_path.glob('pack-*')))}"
        result = pack.build(
            initiative, out, generated_by="test", organisation="Nätverket", contact="a@b.se"
        )
        db.session.commit()
    with zipfile.ZipFile(result.path) as archive:
        return json.loads(archive.read("manifest.json"))["counts"]


def states(app, ids: list[int]) -> list[str]:
    with app.app_context():
        return sorted(
            db.session.scalars(sa.select(Signature.state).where(Signature.id.in_(ids))).all()
        )


def submit(browser, page: str, action: str, **data: str):
    """``post_form``, for forms with a field called ``client`` (its first parameter)."""
    data["csrf_token"] = csrf_token(browser, page)
    return browser.post(action, data=data)


def preview_links(page: str) -> list[str]:
    return [html.unescape(link) for link in PREVIEW_LINK.findall(page)]


def test_preview_then_invalidate_then_restore_keeps_every_count_true(app, burst_campaign, tmp_path):
    assert count_is_exact(app, "amiralsgatan") == 14
    assert manifest_counts(app, tmp_path)["confirmed_total"] == 14
    organiser = logged_in(app, role="organiser", email="lina@example.org")

    # The burst is shown (by client and by email domain); the people are not.
    page = organiser.get(REVIEW).get_data(as_text=True)
    assert BOT[:16] in page and "mailbot.example" in page and PERSON[:16] not in page
    links = preview_links(page)
    assert len(links) == 2
    by_client = next(link for link in links if "client=" in link)

    # The preview says how many, by state, and lists them; nothing changes yet.
    preview = organiser.get(by_client)
    assert preview.status_code == 200
    text = preview.get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in text
    assert "<strong data-pending>4</strong>" in text
    assert "<strong data-already>0</strong>" in text
    assert "Bot 0" in text and "Bot 11" in text and "Person 0" not in text
    assert count_is_exact(app, "amiralsgatan") == 14

    # Invalidate what was previewed, with a reason code and a note.
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', text))
    form = {k: html.unescape(v) for k, v in form.items()}
    assert form["client"] == BOT[:16] and form["since"] and form["until"]
    expected = re.search(r'name="expected" type="hidden" value="(\d+)"', text).group(1)
    assert expected == "12"
    # A NUL pasted into the note (PostgreSQL refuses it): a message, nothing invalidated.
    refused = submit(
        organiser,
        unquote(by_client),
        f"{REVIEW}/invalidate",
        **form,
        expected=expected,
        reason="automated",
        note="Tolv\x00",
    )
    assert refused.status_code == 400
    assert "tecken som inte är tillåtna" in refused.get_data(as_text=True)
    assert count_is_exact(app, "amiralsgatan") == 14
    response = submit(
        organiser,
        unquote(by_client),
        f"{REVIEW}/invalidate",
        **form,
        expected=expected,
        reason="automated",
        note="Tolv på två minuter från samma klient",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert count_is_exact(app, "amiralsgatan") == 6
    assert states(app, burst_campaign["bot"]) == ["invalidated"] * 12
    assert states(app, burst_campaign["people"]) == ["confirmed"] * 6

    # Everything is visible: the history, the dashboard, and the pack's counts.
    after = organiser.get(REVIEW).get_data(as_text=True)
    assert "12 underskrifter är ogiltigförklarade just nu" in after
    assert "lina@example.org" in after and "Automatiserad" in after
    assert "12 fortfarande ogiltiga" in after
    assert BOT[:16] not in after.split('id="bursts-h"')[1].split("</section>")[0]
    dashboard = organiser.get("/admin/initiatives/amiralsgatan").get_data(as_text=True)
    assert 'data-invalidated="12"' in dashboard
    assert "12 underskrifter är ogiltigförklarade och räknas inte" in dashboard
    counts = manifest_counts(app, tmp_path)
    assert counts["confirmed_total"] == 6 and counts["web"] == 6
    assert counts["invalidated"] == 12
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "abuse.invalidate")
        ).one()
        assert event.actor == "lina@example.org" and event.details["reason"] == "automated"
        event_id = event.id

    # Restore: reversible, logged, the count and the pack come back.
    restored = post_form(organiser, REVIEW, f"{REVIEW}/restore/{event_id}")
    assert restored.status_code == 302
    assert count_is_exact(app, "amiralsgatan") == 14
    assert states(app, burst_campaign["bot"]).count("pending") == 4
    history = organiser.get(REVIEW).get_data(as_text=True)
    assert "Återställde" in history and f"ångrade #{event_id}" in history
    assert "alla återställda" in history
    counts = manifest_counts(app, tmp_path)
    assert counts["confirmed_total"] == 14 and counts["invalidated"] == 0
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "abuse.restore")
            )
            == 1
        )


def test_a_selection_that_changed_since_the_preview_is_not_acted_on(app, burst_campaign):
    organiser = logged_in(app, role="organiser")
    query = f"{REVIEW}/preview?domain=mailbot.example"
    page = organiser.get(query).get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in page
    # Another bot signature arrives between the preview and the click.
    add_signatures(app, "amiralsgatan", [Spec("late@mailbot.example", client_hash=BOT)])
    response = post_form(
        organiser, query, f"{REVIEW}/invalidate", domain="mailbot.example", expected="12",
        reason="automated",
    )  # fmt: skip
    assert response.status_code == 409
    assert "det träffar nu 13 i stället för 12" in response.get_data(as_text=True)
    assert count_is_exact(app, "amiralsgatan") == 15
    assert states(app, burst_campaign["bot"]).count("invalidated") == 0


def test_bad_selections_get_a_message_and_change_nothing(app, burst_campaign):
    organiser = logged_in(app, role="organiser")
    cases = {
        "": "Välj minst en av klient",
        "?client=b0b0": "minst 8 tecken",
        "?client=zzzzzzzzzz": "minst 8 tecken",
        "?domain=inte en domän": "Skriv en domän",
        "?domain=mailbot.example&since=igår": None,  # WTForms' own message
        "?domain=mailbot.example&since=2026-03-02T10:00&until=2026-03-01T10:00": "före starttiden",
        "?kiosk=7": None,  # not one of the choices
        "?since=2026-03-01T10:00": "Välj minst en av klient",
        "?client=%00%ff": "minst 8 tecken",
    }
    for query, message in cases.items():
        response = organiser.get(f"{REVIEW}/preview{query}")
        assert response.status_code == 400, query
        text = response.get_data(as_text=True)
        assert "error-summary" in text and "data-confirmed" not in text, query
        assert message is None or message in text, query
    assert organiser.get(f"{REVIEW}?window=abc").status_code == 400
    assert organiser.get(f"{REVIEW}?window=10&threshold=1").status_code == 400
    assert organiser.get(f"{REVIEW}?window=10&threshold=5").status_code == 200

    page = f"{REVIEW}/preview?client={BOT[:16]}"
    no_reason = submit(organiser, page, f"{REVIEW}/invalidate", client=BOT[:16], expected="12")
    assert no_reason.status_code == 400 and "Välj en anledning" in no_reason.get_data(as_text=True)
    # The preview is still there to look at, next to the error.
    assert "<strong data-confirmed>8</strong>" in no_reason.get_data(as_text=True)
    other = submit(
        organiser, page, f"{REVIEW}/invalidate", client=BOT[:16], expected="12", reason="other"
    )
    assert other.status_code == 400 and "Förklara i anteckningen" in other.get_data(as_text=True)
    nothing = post_form(organiser, page, f"{REVIEW}/invalidate", expected="12", reason="test")
    assert nothing.status_code == 400
    unknown = submit(
        organiser, page, f"{REVIEW}/invalidate", client=BOT[:16], expected="12", reason="spite"
    )
    assert unknown.status_code == 400
    assert post_form(organiser, REVIEW, f"{REVIEW}/restore/999").status_code == 404
    assert count_is_exact(app, "amiralsgatan") == 14
    assert organiser.get("/admin/initiatives/no-such/review").status_code == 404


def test_once_submitted_the_review_shows_but_cannot_change_the_list(app, burst_campaign):
    organiser = logged_in(app, role="organiser")
    set_initiative(app, "amiralsgatan", state=InitiativeState.SUBMITTED)
    query = f"{REVIEW}/preview?client={BOT[:16]}"
    page = organiser.get(query).get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in page
    assert f"{REVIEW}/invalidate" not in page and "kan inte ändras" in page
    response = submit(
        organiser, query, f"{REVIEW}/invalidate", client=BOT[:16], expected="12",
        reason="automated",
    )  # fmt: skip
    assert response.status_code == 409
    assert count_is_exact(app, "amiralsgatan") == 14


def test_a_tablet_burst_is_selected_by_kiosk_name(app, burst_campaign):
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        kiosk, _code = kiosks.create("Stand 1", [initiative], actor="test")
        db.session.execute(
            sa.update(Signature)
            .where(Signature.id.in_(burst_campaign["bot"]))
            .values(kiosk_id=kiosk.id, client_hash=None)
        )
        db.session.commit()
    organiser = logged_in(app, role="organiser")
    page = organiser.get(REVIEW).get_data(as_text=True)
    assert "Samma surfplatta" in page and "Stand 1" in page
    link = next(link for link in preview_links(page) if "kiosk=" in link)
    preview = organiser.get(link).get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in preview and "Stand 1" in preview


def test_a_forged_event_number_of_any_size_is_not_found(app, burst_campaign):
    """Larger than any id the database can hold (PostgreSQL's integer, SQLite's 64 bits)."""
    organiser = logged_in(app, role="organiser")
    for event_id in ("3000000000", "9" * 30):
        response = post_form(organiser, REVIEW, f"{REVIEW}/restore/{event_id}")
        assert response.status_code == 404, event_id
        assert "Sidan finns inte" in response.get_data(as_text=True)
    assert count_is_exact(app, "amiralsgatan") == 14


def test_a_time_no_signature_can_have_gets_a_message_not_an_error(app, burst_campaign):
    """Year 1 in Swedish time is before the first moment UTC can hold."""
    organiser = logged_in(app, role="organiser")
    for query in (
        "?domain=mailbot.example&since=0001-01-01T00:00",
        "?domain=mailbot.example&until=0001-01-01T00:30",
    ):
        response = organiser.get(f"{REVIEW}/preview{query}")
        assert response.status_code == 400, query
        text = response.get_data(as_text=True)
        assert "error-summary" in text and "mellan år 2000 och 2999" in text, query
    page = f"{REVIEW}/preview?client={BOT[:16]}"
    response = submit(
        organiser, page, f"{REVIEW}/invalidate", client=BOT[:16], since="0001-01-01T00:00",
        expected="12", reason="automated",
    )  # fmt: skip
    assert response.status_code == 400
    assert count_is_exact(app, "amiralsgatan") == 14


def test_a_restore_sent_again_is_refused_and_logged_once(app, burst_campaign):
    """A double click, or the form sent again from the browser's history: the second
    finds nothing left to restore and says so; the log does not hold a second restore."""
    organiser = logged_in(app, role="organiser")
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        change = abuse.invalidate(
            abuse.Selection(initiative.id, client_hash=BOT[:16]), reason="automated", actor="t"
        )
        db.session.commit()
    action = f"{REVIEW}/restore/{change.event_id}"
    assert post_form(organiser, REVIEW, action).status_code == 302
    again = post_form(organiser, REVIEW, action)
    assert again.status_code == 409
    assert "Inget att återställa" in again.get_data(as_text=True)
    assert count_is_exact(app, "amiralsgatan") == 14
    with app.app_context():
        restores = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "abuse.restore")
        ).all()
        assert len(restores) == 1


def test_a_restore_says_which_unconfirmed_ones_are_expired_now(app, burst_campaign):
    """Held longer than their link worked, the bot's unconfirmed four come back expired:
    the organiser is told so, and the history says it, rather than "waiting"."""
    from initiatives import clock

    organiser = logged_in(app, role="organiser")
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        change = abuse.invalidate(
            abuse.Selection(initiative.id, client_hash=BOT[:16]), reason="automated", actor="t"
        )
        old = clock.utcnow() - timedelta(days=app.config["CONFIRM_DAYS"] + 1)
        db.session.execute(sa.update(Signature).values(created_at=old, link_sent_at=old))
        db.session.commit()
    response = post_form(organiser, REVIEW, f"{REVIEW}/restore/{change.event_id}")
    assert response.status_code == 302
    page = html.unescape(organiser.get(REVIEW).get_data(as_text=True))
    assert "12 underskrifter är återställda. 4 av dem var obekräftade" in page
    assert "4 utgångna: länken slutade gälla" in page
    assert count_is_exact(app, "amiralsgatan") == 14


def test_a_selection_with_other_signatures_but_as_many_is_not_acted_on(app, burst_campaign):
    """Between the preview and the click one previewed signer withdraws and a new bot
    signature arrives: the count is the same, the signatures are not.  Nothing the
    organiser has not seen is invalidated."""
    organiser = logged_in(app, role="organiser")
    query = f"{REVIEW}/preview?domain=mailbot.example"
    page = organiser.get(query).get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    form = {k: html.unescape(v) for k, v in form.items()}
    expected = re.search(r'name="expected" type="hidden" value="(\d+)"', page).group(1)
    assert expected == "12"
    selected = re.search(r'name="selected" type="hidden" value="([0-9a-f]{64})"', page).group(1)
    with app.app_context():
        gone = db.session.get(Signature, burst_campaign["bot"][0])
        assert signature_states.withdraw(gone) == signature_states.WithdrawOutcome.WITHDRAWN
        db.session.commit()
    late = add_signatures(app, "amiralsgatan", [Spec("late@mailbot.example", client_hash=BOT)])
    response = submit(
        organiser, query, f"{REVIEW}/invalidate", **form, expected=expected, selected=selected,
        reason="automated",
    )  # fmt: skip
    assert response.status_code == 409
    assert "inte samma underskrifter" in response.get_data(as_text=True)
    assert states(app, late) == ["confirmed"]
    assert states(app, burst_campaign["bot"]).count("invalidated") == 0
    assert count_is_exact(app, "amiralsgatan") == 15
    # The page that says so carries what it matches now; sent as it is, it acts on those.
    text = response.get_data(as_text=True)
    now = re.search(r'name="selected" type="hidden" value="([0-9a-f]{64})"', text).group(1)
    assert now != selected
    again = submit(
        organiser, query, f"{REVIEW}/invalidate", **form, expected="12", selected=now,
        reason="automated",
    )  # fmt: skip
    assert again.status_code == 302
    assert states(app, late) == ["invalidated"]
    assert count_is_exact(app, "amiralsgatan") == 15 - 9


def test_a_burst_in_the_hour_that_repeats_when_summer_time_ends_is_previewed(app, burst_campaign):
    """25 October 2026: Malmö's clocks go from 03:00 back to 02:00, so 02:05 happens
    twice.  A burst in the second 02:05 (01:05 UTC) links to a preview that finds it, and
    a selection typed as 02:00 to 02:59 covers both of that night's hours."""
    start = datetime(2026, 10, 25, 1, 5, tzinfo=UTC)
    with app.app_context():
        for i, signature_id in enumerate(burst_campaign["bot"]):
            db.session.execute(
                sa.update(Signature)
                .where(Signature.id == signature_id)
                .values(created_at=start + timedelta(seconds=10 * i))
            )
        db.session.commit()
    organiser = logged_in(app, role="organiser")
    page = organiser.get(REVIEW).get_data(as_text=True)
    link = next(link for link in preview_links(page) if "client=" in link)
    assert "since=2026-10-25T02:05" in link
    preview = organiser.get(link).get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in preview
    assert "<strong data-pending>4</strong>" in preview
    typed = organiser.get(
        f"{REVIEW}/preview?client={BOT[:16]}&since=2026-10-25T02:00&until=2026-10-25T02:59"
    ).get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in typed


def test_to_and_including_a_minute_takes_the_whole_minute(app, burst_campaign):
    """A browser's time field sends "12:00" without seconds: "till och med 12:00" takes a
    signature made at 12:00:30, in the preview and in the invalidation it leads to."""
    start = datetime(2026, 11, 20, 10, 59, 40, tzinfo=UTC)  # 11:59:40 in Malmö
    with app.app_context():
        for i, signature_id in enumerate(burst_campaign["bot"]):
            db.session.execute(
                sa.update(Signature)
                .where(Signature.id == signature_id)
                .values(created_at=start + timedelta(seconds=5 * i))  # to 12:00:35
            )
        db.session.commit()
    organiser = logged_in(app, role="organiser")
    query = f"{REVIEW}/preview?client={BOT[:16]}&since=2026-11-20T11:59&until=2026-11-20T12:00"
    page = organiser.get(query).get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in page
    assert "<strong data-pending>4</strong>" in page
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    form = {k: html.unescape(v) for k, v in form.items()}
    assert form["until"] == "2026-11-20T12:00"
    expected = re.search(r'name="expected" type="hidden" value="(\d+)"', page).group(1)
    selected = re.search(r'name="selected" type="hidden" value="([0-9a-f]{64})"', page).group(1)
    response = submit(
        organiser, query, f"{REVIEW}/invalidate", **form, expected=expected, selected=selected,
        reason="automated",
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    assert states(app, burst_campaign["bot"]) == ["invalidated"] * 12
    # With its seconds (a burst's link) the end is that second: 11:59:40 to 12:00:00.
    exact = organiser.get(query.replace("T12:00", "T12:00:00")).get_data(as_text=True)
    assert "<strong data-already>5</strong>" in exact


def _idle(app, browser) -> None:
    """Her session was idle longer than ADMIN_IDLE_MINUTES (the page stayed open)."""
    with browser.session_transaction() as session:
        session["admin_seen"] = int(time.time()) - (app.config["ADMIN_IDLE_MINUTES"] + 1) * 60


def _log_in_again(browser, login_page: str) -> str:
    """Log in on the page the refused form led to: where the login leads."""
    token = csrf_token(browser, login_page)
    data = {"email": "lina@example.org", "password": PASSWORD, "csrf_token": token}
    response = browser.post(login_page, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def test_an_invalidation_sent_after_the_session_ended_leads_back_to_its_preview(
    app, burst_campaign
):
    """Lina previewed the bot's burst and was called away; her invalidation comes back
    "not saved", and the login leads to the same preview (its selection taken from the
    form she sent, to be looked at and sent again), not to the review's first page.  Only
    the preview's own parameters are carried, inside the admin; a selection that cannot
    be one (too long to be typed) leads to the review's page, as before."""
    organiser = logged_in(app, role="organiser", email="lina@example.org")
    links = preview_links(organiser.get(REVIEW).get_data(as_text=True))
    by_client = next(link for link in links if "client=" in link)
    page = organiser.get(by_client).get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    form = {k: html.unescape(v) for k, v in form.items()}
    sent = form | {
        "expected": "12",
        "reason": "automated",
        "note": "Tolv",
        "next": "//evil.example",
    }

    def send_when_idle(**changed: str) -> str:
        token = csrf_token(organiser, by_client)
        _idle(app, organiser)
        refused = organiser.post(
            f"{REVIEW}/invalidate", data=sent | changed | {"csrf_token": token}
        )
        assert refused.status_code == 302
        login_page = refused.headers["Location"]
        assert login_page.startswith("/admin/login?next=")
        assert "sparades inte" in organiser.get(login_page).get_data(as_text=True)
        return _log_in_again(organiser, login_page)

    back = urlsplit(send_when_idle())
    wanted = urlsplit(by_client)
    assert back.path == wanted.path == f"{REVIEW}/preview"
    assert parse_qs(back.query) == parse_qs(wanted.query)  # client, since, until only
    again = organiser.get(urlunsplit(back))
    assert again.status_code == 200
    text = again.get_data(as_text=True)
    assert "<strong data-confirmed>8</strong>" in text and "<strong data-pending>4</strong>" in text
    assert count_is_exact(app, "amiralsgatan") == 14  # nothing was invalidated

    # A value that looks like a place to go is only a parameter of the preview, which
    # selects by it (here: nothing).
    back = urlsplit(send_when_idle(domain="//evil.example"))
    assert (back.scheme, back.netloc, back.path) == ("", "", f"{REVIEW}/preview")
    assert parse_qs(back.query)["domain"] == ["//evil.example"]
    page = organiser.get(urlunsplit(back)).get_data(as_text=True)
    assert "<strong data-confirmed>0</strong>" in page
    assert send_when_idle(client="a" * 5000) == REVIEW
    assert count_is_exact(app, "amiralsgatan") == 14
