"""Signing, confirming and withdrawing through HTTP, with a real SMTP server."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import request

from initiatives import clock
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import (
    AuditEvent,
    Initiative,
    InitiativeState,
    OutboxMessage,
    Signature,
)
from initiatives.signature_states import confirmed_count
from initiatives.tokens import Purpose, make_token

from .admin_helpers import logged_in
from .conftest import (
    CSRF_RE,
    correct_the_text,
    csrf_token,
    link_path,
    links_in,
    shown_text_version,
    sign_form,
)
from .test_i18n import escape_html, translated

FORM_EXPIRED = (
    "Formuläret hade gått ut, så din underskrift är inte sparad än. Det du skrev finns "
    "kvar: tryck på knappen igen. Händer det igen: tillåt cookies för den här webbplatsen "
    "eller öppna sidan i en annan webbläsare."
)


def count_shown(client, slug="amiralsgatan") -> int:
    page = client.get(f"/i/{slug}").get_data(as_text=True)
    return int(re.search(r'<p class="progress-count"><strong>(\d+)</strong>', page).group(1))


def signatures_in_db(app) -> list[Signature]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Signature).order_by(Signature.id)))


def set_state(app, initiative: Initiative, state: InitiativeState) -> None:
    """Move an initiative straight to ``state`` (as the organisers' actions would)."""
    with app.app_context():
        db.session.execute(
            sa.update(Initiative).where(Initiative.id == initiative.id).values(state=state)
        )
        db.session.commit()


def test_resident_signs_confirms_and_the_count_rises_by_one(
    app, client, make_initiative, sign, deliver, smtp
):
    """Amira signs, gets the mail from a real SMTP server, opens the link, presses the
    button, and sees the count go from 0 to 1."""
    make_initiative()
    assert count_shown(client) == 0

    response = sign(name="Amira Hassan", email="Amira@Example.org ")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/i/amiralsgatan/thanks")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Kolla din e-post" in page.get_data(as_text=True)

    assert deliver().sent == 1
    [mail] = smtp.wait_for(1)
    assert mail["To"].addresses[0].addr_spec == "Amira@Example.org"
    assert "Bekräfta din underskrift" in mail["Subject"]
    assert mail.get_body(preferencelist=("html",)) is not None
    [confirm_url] = [u for u in links_in(mail) if "/confirm/" in u]

    # A person opens the link: GET shows a button and changes nothing.
    shown = client.get(link_path(confirm_url))
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert "Bekräfta min underskrift" in html
    assert count_shown(client) == 0

    # ... and presses it: the form's POST confirms.
    token = CSRF_RE.search(html).group(1)
    done = client.post(link_path(confirm_url), data={"csrf_token": token})
    assert done.status_code == 303
    after = client.get(done.headers["Location"])
    assert "Din underskrift räknas" in after.get_data(as_text=True)
    assert count_shown(client) == 1
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == 1

    # Pressing again is harmless.
    again = client.post(link_path(confirm_url), data={"csrf_token": token})
    assert again.status_code == 303
    assert count_shown(client) == 1

    # The thank-you mail carries a withdrawal link.
    deliver()
    thanks = smtp.wait_for(2)[1]
    assert any("/withdraw/" in u for u in links_in(thanks))


def test_a_link_scanner_that_prefetches_never_confirms(
    app, client, make_initiative, sign, deliver, smtp
):
    make_initiative()
    sign()
    deliver()
    [mail] = smtp.wait_for(1)
    for url in links_in(mail):
        for _ in range(3):
            client.get(link_path(url))
        client.head(link_path(url))
    [signature] = signatures_in_db(app)
    assert signature.state == "pending"
    assert count_shown(client) == 0


def test_a_link_with_a_full_stop_or_bracket_glued_on_keeps_the_signers_language(
    app, make_initiative, sign, deliver, smtp
):
    """A mail program that makes links of plain text may take a full stop, or the ">" of
    "<https://…>", into the link, onto its ?lang=: the page opened in Swedish (or the
    browser's language), not the one the resident signed in, and did not keep hers."""
    make_initiative()
    signer = app.test_client()
    signer.set_cookie("lang", "ar")
    sign(who=signer)
    deliver()
    [confirm_url] = [u for u in links_in(smtp.wait_for(1)[0]) if "/confirm/" in u]
    assert confirm_url.endswith("?lang=ar")
    for glued in (".", "%3E", ").", "%22", "%3E."):
        phone = app.test_client()  # the link opened on another device
        page = phone.get(link_path(confirm_url) + glued)
        assert page.status_code == 200, glued
        assert '<html lang="ar" dir="rtl">' in page.get_data(as_text=True), glued
        assert "lang=ar;" in page.headers["Set-Cookie"], glued
        assert '<html lang="ar"' in phone.get("/i/amiralsgatan").get_data(as_text=True)
    [signature] = signatures_in_db(app)
    assert signature.state == "pending"


def test_a_links_page_reads_without_a_transaction_and_confirming_writes_in_one(
    app, client, make_initiative, sign, backend
):
    """The page behind a link is one SELECT: on PostgreSQL in autocommit, without the
    BEGIN and ROLLBACK round trips.  The connection then goes back to the pool in its
    transactional mode: the POST that follows, on that same connection, makes all its
    writes in one transaction."""
    make_initiative()
    sign()
    [signature] = signatures_in_db(app)
    with app.app_context():
        path = f"/confirm/{make_token(Purpose.CONFIRM, signature.public_id)}"
        engine = db.engine
    token = csrf_token(client, path)
    seen: list[tuple[str, str, bool, int]] = []

    def transactional(dbapi_connection) -> bool:
        if backend == "postgres":
            return not dbapi_connection.autocommit
        return dbapi_connection.in_transaction

    def record(conn, _cursor, statement, *_args) -> None:
        if statement.startswith("BEGIN"):  # SQLite's own, from _tune_sqlite
            return
        dbapi_connection = conn.connection.dbapi_connection
        verb = statement.split()[0]
        seen.append((request.method, verb, transactional(dbapi_connection), id(dbapi_connection)))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        client.get(path)
        client.post(path, data={"csrf_token": token})
        client.get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

    reads = [s for s in seen if s[0] == "GET"]
    writes = [s for s in seen if s[0] == "POST"]
    assert [verb for _, verb, _, _ in reads] == ["SELECT", "SELECT"]
    assert [verb for _, verb, _, _ in writes] == ["SELECT", "UPDATE", "INSERT", "UPDATE"]
    assert all(inside for _, _, inside, _ in writes)
    if backend == "postgres":
        assert not any(inside for _, _, inside, _ in reads)
        # One connection throughout: the pool reset it between the GET and the POST.
        assert len({connection for *_, connection in seen}) == 1
    [signature] = signatures_in_db(app)
    assert signature.state == "confirmed"


def test_withdrawal_link_shows_then_withdraws(app, client, make_initiative, sign, deliver, smtp):
    make_initiative()
    sign()
    deliver()
    confirm = next(u for u in links_in(smtp.wait_for(1)[0]) if "/confirm/" in u)
    client.post(link_path(confirm), data={"csrf_token": csrf_token(client, link_path(confirm))})
    deliver()
    withdraw = next(u for u in links_in(smtp.wait_for(2)[1]) if "/withdraw/" in u)
    assert count_shown(client) == 1

    page = client.get(link_path(withdraw))
    assert page.status_code == 200
    assert "Återkalla min underskrift" in page.get_data(as_text=True)
    assert count_shown(client) == 1

    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    done = client.post(link_path(withdraw), data={"csrf_token": token})
    assert done.status_code == 303
    assert "är återkallad" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert count_shown(client) == 0
    [signature] = signatures_in_db(app)
    assert signature.state == "withdrawn" and signature.withdrawn_at is not None

    # Signing again after withdrawing is allowed and makes a new pending signature.
    sign()
    states = [s.state for s in signatures_in_db(app)]
    assert states == ["withdrawn", "pending"]


def test_a_withdrawal_link_works_until_the_list_is_handed_in_however_long_that_takes(
    app, client, make_initiative, sign, monkeypatch
):
    """A 12-month collection handed in months after it closed: the link in the first
    signer's mail (over 400 days old by then) still withdraws, as the mail promised
    ("until the list is submitted"); only the hand-in ends it."""
    import itsdangerous

    initiative = make_initiative()
    sign()
    [signature] = signatures_in_db(app)
    mailed = time.time() - 500 * 86400
    with app.app_context(), monkeypatch.context() as then:
        then.setattr(itsdangerous.TimestampSigner, "get_timestamp", lambda self: int(mailed))
        token = make_token(Purpose.WITHDRAW, signature.public_id)
    set_state(app, initiative, InitiativeState.CLOSED)

    page = client.get(f"/withdraw/{token}")
    assert page.status_code == 200, page.get_data(as_text=True)
    done = client.post(
        f"/withdraw/{token}",
        data={"csrf_token": CSRF_RE.search(page.get_data(as_text=True)).group(1)},
    )
    assert done.status_code == 303
    assert signatures_in_db(app)[0].state == "withdrawn"


def test_withdrawal_refused_once_submitted(app, client, make_initiative, sign, deliver, smtp):
    initiative = make_initiative()
    sign()
    deliver()
    [signature] = signatures_in_db(app)
    with app.app_context():
        token = make_token(Purpose.WITHDRAW, signature.public_id)
    form_token = csrf_token(client, f"/withdraw/{token}")  # while it is still possible
    set_state(app, initiative, InitiativeState.SUBMITTED)
    page = client.get(f"/withdraw/{token}")
    assert page.status_code == 409
    response = client.post(f"/withdraw/{token}", data={"csrf_token": form_token})
    assert response.status_code == 409
    assert "redan inlämnat" in response.get_data(as_text=True)
    assert signatures_in_db(app)[0].state == "pending"


def _held_for_review(app, signature_id: int) -> None:
    from initiatives import moderation

    with app.app_context():
        row = db.session.get(Signature, signature_id)
        moderation.invalidate(row, "admin@example.org", reason="other", note="check")
        db.session.commit()


def test_a_signature_held_for_review_is_still_the_signers_to_withdraw(
    app, client, make_initiative, sign, deliver, smtp
):
    """An organiser's review took it out of the count (invalidated): the signer's link
    still withdraws it, and restoring the review afterwards leaves it withdrawn."""
    from initiatives import moderation

    make_initiative()
    sign()
    deliver()
    confirm = link_path(next(u for u in links_in(smtp.wait_for(1)[0]) if "/confirm/" in u))
    client.post(confirm, data={"csrf_token": csrf_token(client, confirm)})
    deliver()
    withdraw = link_path(next(u for u in links_in(smtp.wait_for(2)[1]) if "/withdraw/" in u))
    [signature] = signatures_in_db(app)
    _held_for_review(app, signature.id)

    page = client.get(withdraw)
    assert page.status_code == 200
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    done = client.post(withdraw, data={"csrf_token": token})
    assert done.status_code == 303
    assert "är återkallad" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert "är återkallad" in client.get(withdraw).get_data(as_text=True)
    with app.app_context():
        row = db.session.get(Signature, signature.id)
        assert row.state == "invalidated" and row.withdrawn_at is not None  # address kept
        moderation.restore(row, "admin@example.org")  # undoing the review: withdrawn
        db.session.commit()
        assert db.session.get(Signature, signature.id).state == "withdrawn"
        assert confirmed_count(row.initiative_id) == 0
        assert db.session.get(Initiative, row.initiative_id).confirmed_count == 0


def test_the_signers_of_a_withdrawn_initiative_may_still_withdraw(
    app, client, make_initiative, sign
):
    """Its list will never be handed in, so the page must not say it was."""
    initiative = make_initiative()
    sign()
    [signature] = signatures_in_db(app)
    with app.app_context():
        token = make_token(Purpose.WITHDRAW, signature.public_id)
    set_state(app, initiative, InitiativeState.WITHDRAWN)
    page = client.get(f"/withdraw/{token}")
    assert page.status_code == 200
    assert "redan inlämnat" not in page.get_data(as_text=True)
    form_token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    assert client.post(f"/withdraw/{token}", data={"csrf_token": form_token}).status_code == 303
    assert signatures_in_db(app)[0].state == "withdrawn"


def test_a_confirmation_link_of_a_withdrawn_initiative_does_not_say_it_counts(
    app, client, make_initiative, sign
):
    """Opened again after the organisers withdrew the initiative (from the page cache
    too): its list will never be handed in, so not "Tack! Din underskrift räknas"."""
    initiative = make_initiative()
    sign()
    [signature] = signatures_in_db(app)
    with app.app_context():
        link = f"/confirm/{make_token(Purpose.CONFIRM, signature.public_id)}"
    form_token = csrf_token(client, link)
    assert client.post(link, data={"csrf_token": form_token}).status_code == 303
    assert "Din underskrift räknas" in client.get(link).get_data(as_text=True)
    set_state(app, initiative, InitiativeState.WITHDRAWN)
    page = client.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Initiativet har dragits tillbaka." in html and "Din underskrift räknas" not in html
    assert "Du har skrivit under" in html


def test_an_expired_signature_can_be_withdrawn_from_a_data_reports_link(
    app, client, make_initiative, sign, monkeypatch
):
    """A data report carries a withdrawal link for a pending signature; once it has
    expired the link still withdraws it (and never says the list was handed in)."""
    from initiatives import signature_states

    make_initiative()
    sign()
    [signature] = signatures_in_db(app)
    later = clock.utcnow() + timedelta(days=app.config["CONFIRM_DAYS"] + 1)
    with app.app_context():
        link = f"/withdraw/{make_token(Purpose.WITHDRAW, signature.public_id)}"
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    with app.app_context():
        assert signature_states.expire_unconfirmed() == 1
        db.session.commit()
    page = client.get(link)
    assert page.status_code == 200
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    assert client.post(link, data={"csrf_token": token}).status_code == 303
    assert signatures_in_db(app)[0].state == "withdrawn"


def _page_without_csrf(response) -> bytes:
    return CSRF_RE.sub(
        'name="csrf_token" type="hidden" value=""', response.get_data(as_text=True)
    ).encode()


def test_repeated_address_gets_the_same_page_and_the_mail_says_what_happened(
    app, client, make_initiative, sign, deliver, smtp, a_minute_later
):
    """New, pending and confirmed addresses see byte-for-byte the same page."""
    make_initiative()
    pages = []

    first = sign(email="same@example.org")
    pages.append(
        (
            first.status_code,
            first.headers["Location"],
            _page_without_csrf(client.get(first.headers["Location"])),
        )
    )
    a_minute_later()
    second = sign(email="SAME@example.org")  # still pending: a fresh link
    pages.append(
        (
            second.status_code,
            second.headers["Location"],
            _page_without_csrf(client.get(second.headers["Location"])),
        )
    )

    deliver()
    mails = smtp.wait_for(2)
    confirm = next(u for u in links_in(mails[1]) if "/confirm/" in u)
    client.post(link_path(confirm), data={"csrf_token": csrf_token(client, link_path(confirm))})

    third = sign(email="same@example.org")  # confirmed: told so by mail
    pages.append(
        (
            third.status_code,
            third.headers["Location"],
            _page_without_csrf(client.get(third.headers["Location"])),
        )
    )
    assert pages[0] == pages[1] == pages[2]

    deliver()
    subjects = [m["Subject"] for m in smtp.wait_for(4)]
    assert subjects[0].startswith("Bekräfta") and subjects[1].startswith("Bekräfta")
    assert any(s.startswith("Du har redan skrivit under") for s in subjects[2:])
    assert len(signatures_in_db(app)) == 1


def test_resending_is_capped_per_address_per_day(
    app, client, make_initiative, sign, deliver, smtp, a_minute_later
):
    make_initiative()
    for _ in range(6):
        assert sign(email="many@example.org").status_code == 303
        a_minute_later()
    with app.app_context():
        queued = db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)))
    assert queued == app.config["MAILS_PER_ADDRESS_PER_DAY"]
    assert len(signatures_in_db(app)) == 1


def confirm_mails_queued(app) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "confirm")
        )


def test_a_double_tapped_sign_button_sends_one_link(
    app, client, make_initiative, sign, monkeypatch
):
    """Amira taps "Skriv under" twice on a slow connection: one confirmation mail, not
    two (both would work, and both would count against her address's daily cap).  Her
    page is the same as always; a repeat once the link is a minute old sends a new one,
    and that one starts the quiet minute again."""
    make_initiative()
    start = clock.utcnow()
    window = app.config["SIGN_AGAIN_QUIET_SECONDS"]
    at = lambda seconds: monkeypatch.setattr(  # noqa: E731 - a one-line clock
        clock, "utcnow", lambda: start + timedelta(seconds=seconds)
    )

    at(0)
    first = sign(email="tap@example.org")
    at(2)
    second = sign(email="tap@example.org")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert _page_without_csrf(client.get(first.headers["Location"])) == _page_without_csrf(
        client.get(second.headers["Location"])
    )
    assert confirm_mails_queued(app) == 1
    at(window - 1)
    sign(email="TAP@example.org")
    assert confirm_mails_queued(app) == 1

    at(window + 1)  # she did not get it: signing again sends a new link, as always
    sign(email="tap@example.org")
    assert confirm_mails_queued(app) == 2
    at(window + 3)  # ... counted from that link, not from the signature
    sign(email="tap@example.org")
    assert confirm_mails_queued(app) == 2
    at(2 * window + 2)
    sign(email="tap@example.org")
    assert confirm_mails_queued(app) == 3
    assert len(signatures_in_db(app)) == 1


def test_a_confirmed_signer_who_double_taps_gets_one_already_signed_mail(
    app, make_initiative, sign, monkeypatch
):
    """Amira signed and confirmed an hour ago; at the stand's poster she signs again on her
    phone and taps twice: one "you have already signed" mail, not two.  A try a minute
    later is told again (she may have lost the first mail), within the daily cap."""
    make_initiative()
    start = clock.utcnow()
    window = app.config["SIGN_AGAIN_QUIET_SECONDS"]
    at = lambda seconds: monkeypatch.setattr(  # noqa: E731 - a one-line clock
        clock, "utcnow", lambda: start + timedelta(seconds=seconds)
    )
    already = lambda: mails_queued(app, "already_signed")  # noqa: E731

    at(0)
    sign(email="amira@example.org")
    with app.app_context():
        db.session.execute(sa.update(Signature).values(state="confirmed"))
        db.session.commit()

    start += timedelta(hours=1)
    at(0)
    first = sign(email="amira@example.org")
    at(2)
    second = sign(email="Amira@Example.org")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert already() == 1
    at(window - 1)
    sign(email="amira@example.org")
    assert already() == 1

    at(window + 1)
    sign(email="amira@example.org")
    assert already() == 2
    at(window + 3)  # counted from the newest mail
    sign(email="amira@example.org")
    assert already() == 2
    assert len(signatures_in_db(app)) == 1


def mails_queued(app, kind: str) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == kind)
        )


def test_signature_records_channel_source_locale_and_text_hash(app, client, make_initiative, sign):
    initiative = make_initiative()
    client.set_cookie("lang", "en")
    sign(src="poster", postcode="21214")
    [signature] = signatures_in_db(app)
    assert signature.channel == "web"
    assert signature.source_tag == "poster"
    assert signature.locale == "en"
    assert signature.text_hash == initiative.text_hash and len(signature.text_hash) == 64
    assert signature.postcode_area == "212"
    with app.app_context():
        assert crypto().decrypt(signature.postcode_enc) == "212 14"
        assert crypto().decrypt(signature.name_enc) == "Amira Hassan"


def test_a_postcode_typed_on_a_persian_or_arabic_keyboard_is_stored_in_ascii_digits(
    app, client, make_initiative, sign
):
    """``۲۱۲۱۴`` (Persian) and ``٢١٢ ١٤`` (Arabic-Indic) are 212 14: one area in the
    statistics and the pack, not two."""
    make_initiative()
    client.set_cookie("lang", "fa")
    assert sign(email="sara@example.org", postcode="۲۱۲۱۴").status_code == 303
    client.set_cookie("lang", "ar")
    assert sign(email="amina@example.org", postcode="٢١٢ ١٤").status_code == 303
    assert sign(email="lina@example.org", postcode="２１３ ６４").status_code == 303
    stored = signatures_in_db(app)
    assert [s.postcode_area for s in stored] == ["212", "212", "213"]
    with app.app_context():
        assert [crypto().decrypt(s.postcode_enc) for s in stored] == ["212 14", "212 14", "213 64"]
    # Digits that are not decimal digits are still not a postcode.
    response = sign(email="x@example.org", postcode="²¹²¹⁴")
    assert response.status_code == 400
    assert len(signatures_in_db(app)) == 3


def test_honeypot_looks_like_success_and_stores_nothing(app, client, make_initiative, sign):
    make_initiative()
    response = sign(website="http://spam.example")
    assert response.status_code == 303
    assert signatures_in_db(app) == []


def test_confirmation_after_the_period_ends_still_counts_until_submitted(
    app, client, make_initiative, sign, deliver, smtp
):
    """Signed in time, confirmed the next morning after closing: it counts."""
    initiative = make_initiative()
    sign()
    deliver()
    confirm = next(u for u in links_in(smtp.wait_for(1)[0]) if "/confirm/" in u)
    set_state(app, initiative, InitiativeState.CLOSED)
    client.post(link_path(confirm), data={"csrf_token": csrf_token(client, link_path(confirm))})
    assert signatures_in_db(app)[0].state == "confirmed"


def test_closed_initiatives_show_their_state_and_refuse_signatures(
    app, client, make_initiative, sign
):
    make_initiative("open")
    make_initiative("stangd", state=InitiativeState.CLOSED)
    make_initiative("inlamnad", state=InitiativeState.SUBMITTED)
    make_initiative("besvarad", state=InitiativeState.ANSWERED)
    make_initiative("over-tiden", closes_in_days=-1)
    expectations = {
        "stangd": "Insamlingen är avslutad",
        "inlamnad": "inlämnat till Tekniska nämnden",
        "besvarad": "har svarat",
        "over-tiden": "Tiden för att skriva under har gått ut",
    }
    for slug, text in expectations.items():
        page = client.get(f"/i/{slug}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert text in html
        assert 'id="sign"' not in html
        token = csrf_token(client, "/i/open")
        response = client.post(f"/i/{slug}/sign", data={**_valid(), "csrf_token": token})
        assert response.status_code == 409, slug
        assert text in response.get_data(as_text=True)
    assert signatures_in_db(app) == []


def _answered(app, document: bytes | None) -> None:
    """Tekniska nämnden's answer to the one initiative, recorded as an organiser does."""
    from initiatives import lifecycle

    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        initiative.submitted_at = clock.utcnow() - timedelta(days=40)
        lifecycle.answer(
            initiative,
            "nadia@example.org",
            answered_on=lifecycle.local_date(clock.utcnow()) - timedelta(days=2),
            text="Nämnden bifaller initiativet.\n\nÖvergångarna byggs 2027.",
            document=document,
            filename="Protokollsutdrag TN.pdf",
        )
        db.session.commit()


def test_the_answered_page_shows_the_answer_to_everyone(app, client, make_initiative):
    """Residents who signed come back to see what the committee said: its date, the
    decision as the organisers recorded it, and the city's PDF, in every language
    (the decision itself is in Swedish, and the page says so)."""
    from flask_babel import format_date

    from initiatives import lifecycle

    make_initiative(state=InitiativeState.SUBMITTED)
    pdf = b"%PDF-1.4\n% svar\n%%EOF\n"
    _answered(app, pdf)
    day = lifecycle.local_date(clock.utcnow()) - timedelta(days=2)
    page = client.get("/i/amiralsgatan").get_data(as_text=True)
    assert 'id="answer-heading"' in page
    assert "Svaret från Tekniska nämnden" in page
    with app.test_request_context():
        assert format_date(day, "long") in page
    assert "<p>Nämnden bifaller initiativet.</p>" in page and "byggs 2027" in page
    assert 'href="/i/amiralsgatan/answer.pdf"' in page
    assert "finns bara på svenska" not in page

    client.set_cookie("lang", "en")
    english = client.get("/i/amiralsgatan").get_data(as_text=True)
    assert (
        escape_html(translated("en", "Svaret från %(body)s")) % {"body": "Tekniska nämnden"}
        in english
    )
    assert escape_html(translated("en", "Svaret finns bara på svenska.")) in english
    assert '<div class="prose" lang="sv" dir="ltr">' in english
    assert 'href="/i/amiralsgatan/answer.pdf"' in english

    download = client.get("/i/amiralsgatan/answer.pdf")
    assert download.status_code == 200 and download.data == pdf
    assert download.mimetype == "application/pdf"
    assert download.cache_control.public
    assert "Set-Cookie" not in download.headers
    again = client.get(
        "/i/amiralsgatan/answer.pdf", headers={"If-None-Match": download.headers["ETag"]}
    )
    assert again.status_code == 304


def test_an_answer_without_a_pdf_shows_no_link_and_no_pdf_before_the_answer(
    app, client, make_initiative
):
    make_initiative(state=InitiativeState.SUBMITTED)
    assert client.get("/i/amiralsgatan/answer.pdf").status_code == 404
    assert 'id="answer-heading"' not in client.get("/i/amiralsgatan").get_data(as_text=True)
    _answered(app, None)
    page = client.get("/i/amiralsgatan").get_data(as_text=True)
    assert "Nämnden bifaller initiativet." in page
    assert "answer.pdf" not in page
    assert client.get("/i/amiralsgatan/answer.pdf").status_code == 404


def _valid() -> dict[str, str]:
    return {
        "name": "Amira",
        "email": "amira@example.org",
        "resident": "y",
        "consent": "y",
    }


def test_drafts_are_not_public(client, make_initiative):
    make_initiative("utkast", state=InitiativeState.DRAFT)
    assert client.get("/i/utkast").status_code == 404
    assert client.get("/api/initiatives/utkast").status_code == 404


def test_home_lists_collecting_initiatives_with_progress_and_days_left(client, make_initiative):
    make_initiative("amiralsgatan", closes_in_days=10)
    make_initiative(
        "stangd",
        state=InitiativeState.CLOSED,
        texts={"sv": {"title": "Stängt förslag", "summary": "", "body": ""}},
    )
    html = client.get("/").get_data(as_text=True)
    assert "Tryggare Amiralsgatan" in html
    assert "Stängt förslag" not in html
    assert '<progress max="100" value="0"' in html
    assert "10 dagar kvar" in html


def test_initiative_page_shows_text_target_period_and_official_link(client, make_initiative):
    make_initiative(official_url="https://malmo.se/initiativ/123")
    html = client.get("/i/amiralsgatan").get_data(as_text=True)
    assert "Tryggare Amiralsgatan" in html
    assert "Vi föreslår att Tekniska nämnden bygger säkra övergångar." in html
    assert "Tekniska nämnden" in html
    assert 'href="https://malmo.se/initiativ/123"' in html
    assert 'name="consent"' in html and "checked" not in html


def test_unconfirmed_signatures_expire(app, client, make_initiative, sign, monkeypatch):
    from initiatives import signature_states

    make_initiative()
    sign()
    later = clock.utcnow() + timedelta(days=app.config["CONFIRM_DAYS"] + 1)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    with app.app_context():
        assert signature_states.expire_unconfirmed() == 1
        db.session.commit()
    assert signatures_in_db(app)[0].state == "expired"


def test_a_link_sent_again_works_as_long_as_its_mail_says(
    app, client, make_initiative, sign, deliver, smtp, monkeypatch
):
    """The first mail went to spam; on day 6 she signs again and gets a new link that
    "works for 7 days".  On day 8, after the worker's expiry run, it still confirms."""
    from initiatives import retention, signature_states

    make_initiative()
    start = clock.utcnow()
    days = app.config["CONFIRM_DAYS"]
    sign(email="late@example.org")
    monkeypatch.setattr(clock, "utcnow", lambda: start + timedelta(days=days - 1))
    sign(email="late@example.org")
    deliver()
    resent = smtp.wait_for(2)[1]
    assert f"{days} dagar" in resent.get_body(preferencelist=("plain",)).get_content()
    confirm = link_path(next(u for u in links_in(resent) if "/confirm/" in u))

    monkeypatch.setattr(clock, "utcnow", lambda: start + timedelta(days=days + 1))
    with app.app_context():
        assert signature_states.expire_unconfirmed() == 0
        retention.purge()
        db.session.commit()
    page = client.get(confirm)
    assert page.status_code == 200
    assert "Bekräfta min underskrift" in page.get_data(as_text=True)
    assert client.post(confirm, data={"csrf_token": csrf_token(client, confirm)}).status_code == 303
    assert [s.state for s in signatures_in_db(app)] == ["confirmed"]

    # A link that is not sent again expires as before, counted from its own mail.
    sign(email="once@example.org")
    monkeypatch.setattr(clock, "utcnow", lambda: start + timedelta(days=2 * days + 2))
    with app.app_context():
        assert signature_states.expire_unconfirmed() == 1
        db.session.commit()
    assert [s.state for s in signatures_in_db(app)] == ["confirmed", "expired"]


def test_an_internationalised_domain_is_kept_in_ascii_and_the_mail_arrives(
    app, client, make_initiative, sign, deliver, smtp, a_minute_later
):
    """exämple.se and its ASCII spelling are one address, and mail servers take the latter."""
    make_initiative()
    assert sign(email="Amira@Exämple.se").status_code == 303
    a_minute_later()
    assert sign(email="amira@xn--exmple-cua.se").status_code == 303  # a repeat, not a second
    [signature] = signatures_in_db(app)
    with app.app_context():
        assert crypto().decrypt(signature.email_enc) == "Amira@xn--exmple-cua.se"
    deliver()
    mails = smtp.wait_for(2)
    assert {m["To"] for m in mails} == {"Amira@xn--exmple-cua.se", "amira@xn--exmple-cua.se"}
    assert sorted(to for _sender, tos in smtp.envelopes for to in tos) == [
        "Amira@xn--exmple-cua.se",
        "amira@xn--exmple-cua.se",
    ]


def test_an_address_that_needs_smtputf8_is_refused_in_the_signers_language(
    app, client, make_initiative, sign
):
    """Letters beyond ASCII before the @ need SMTPUTF8: the link would never arrive."""
    make_initiative()
    client.set_cookie("lang", "ar")
    response = sign(email="åsa@example.se")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "لا يمكننا إرسال بريد إلكتروني إلى عنوان" in page
    assert 'value="åsa@example.se"' in page  # kept, to correct
    assert signatures_in_db(app) == []


def test_check_email_page_says_why_a_mail_may_not_come(client, make_initiative, sign):
    """The page is the same whatever happened (privacy); it explains the daily cap."""
    make_initiative()
    response = sign(email="capped@example.org")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Vi skickar högst 3 meddelanden per dygn till samma adress" in page


def test_a_signature_records_the_text_version_the_signer_was_shown(app, client, make_initiative):
    """Nadia opens the page; before she presses the button an organiser corrects the
    text.  Her signature names the text she read, not the correction she never saw."""

    from .conftest import sign_form

    make_initiative()
    page = client.get("/i/amiralsgatan").get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    shown = shown_text_version(page)
    corrected = correct_the_text(app, shown)

    def post(**fields):
        page = client.get("/i/amiralsgatan").get_data(as_text=True)
        fields.setdefault("csrf_token", CSRF_RE.search(page).group(1))
        return client.post("/i/amiralsgatan/sign", data=sign_form(**fields))

    assert post(email="nadia@example.org", text_version=shown, csrf_token=token).status_code == 303
    # A value the initiative never had (forged, garbled) names the current text.
    assert post(email="omar@example.org", text_version="f" * 64).status_code == 303
    assert post(email="sara@example.org", text_version="\x00" * 70).status_code == 303
    assert [s.text_hash for s in signatures_in_db(app)] == [shown, corrected, corrected]


def test_a_sign_form_whose_session_was_lost_comes_back_with_what_was_typed(app, make_initiative):
    """The phone kept the page open overnight and dropped its session cookie, or an app's
    browser never kept it: the token is refused, but what she typed is not thrown away."""
    make_initiative()
    before = app.test_client()
    token = csrf_token(before, "/i/amiralsgatan")
    phone = app.test_client()  # the same form, without the cookie it was made with
    headers = {"Accept-Language": "ar"}
    typed = sign_form(name="أمينة حسن", email="amina@example.org", postcode="212 14")
    refused = phone.post(
        "/i/amiralsgatan/sign", data={**typed, "csrf_token": token}, headers=headers
    )
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert escape_html(translated("ar", FORM_EXPIRED)) in html
    assert 'value="أمينة حسن"' in html and 'value="amina@example.org"' in html
    assert 'value="212 14"' in html
    assert re.search(r'id="consent"[^>]* checked', html) or re.search(
        r'checked[^>]* id="consent"', html
    )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) == 0
    # The page came with a new session and token: pressing the button again signs.
    fresh = CSRF_RE.search(html).group(1)
    again = phone.post("/i/amiralsgatan/sign", data={**typed, "csrf_token": fresh}, headers=headers)
    assert again.status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) == 1


def test_a_refused_token_on_a_closed_initiative_says_it_is_closed(app, make_initiative):
    make_initiative(state="closed")
    response = app.test_client().post(
        "/i/amiralsgatan/sign", data={**sign_form(), "csrf_token": "forged.token.value"}
    )
    assert response.status_code == 409


LINK_PAGE_EXPIRED = (
    "Sidan hade gått ut, så inget är ändrat än. Tryck på knappen igen. Händer det igen: "
    "tillåt cookies för den här webbplatsen eller öppna länken i en annan webbläsare."
)


def test_a_link_page_whose_session_was_lost_comes_back_with_its_button(
    app, make_initiative, sign, deliver, smtp
):
    """The confirmation page lay open overnight and the phone dropped its session
    cookie: the button's token is refused.  The answer was an error page that said to
    reload, which sends the refused form again; now it is the link's page again, in her
    language, with a button that works."""
    make_initiative()
    signer = app.test_client()
    signer.set_cookie("lang", "ar")
    sign(who=signer)
    deliver()
    [confirm_url] = [u for u in links_in(smtp.wait_for(1)[0]) if "/confirm/" in u]
    path = link_path(confirm_url)
    stale = csrf_token(app.test_client(), path)
    phone = app.test_client()  # the same page, without the cookie it was made with
    refused = phone.post(path, data={"csrf_token": stale})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert escape_html(translated("ar", LINK_PAGE_EXPIRED)) in html
    assert translated("ar", "Bekräfta min underskrift") in html
    [signature] = signatures_in_db(app)
    assert signature.state == "pending"
    fresh = CSRF_RE.search(html).group(1)
    assert phone.post(path, data={"csrf_token": fresh}).status_code == 303
    assert signatures_in_db(app)[0].state == "confirmed"
    assert count_shown(phone) == 1

    deliver()
    [withdraw_url] = [u for u in links_in(smtp.wait_for(2)[1]) if "/withdraw/" in u]
    path = link_path(withdraw_url)
    stale = csrf_token(app.test_client(), path)
    phone = app.test_client()
    refused = phone.post(path, data={"csrf_token": stale})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert escape_html(translated("ar", LINK_PAGE_EXPIRED)) in html
    assert translated("ar", "Återkalla min underskrift") in html
    assert signatures_in_db(app)[0].state == "confirmed"
    fresh = CSRF_RE.search(html).group(1)
    assert phone.post(path, data={"csrf_token": fresh}).status_code == 303
    assert signatures_in_db(app)[0].state == "withdrawn"
    assert count_shown(phone) == 0


# A name as phones paste it: a contact's name wrapped in an isolate (U+2067 ... U+2069),
# a right-to-left mark after an Arabic word, and a Persian name whose zero width
# non-joiner (U+200C) is part of its spelling.
PASTED_NAME = "\u2067\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627\u200f\u2069 Karimi"
STORED_NAME = "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627 Karimi"


def test_direction_controls_are_taken_out_of_a_name_and_the_non_joiner_stays(
    app, client, make_initiative, sign
):
    make_initiative()
    assert sign(name=PASTED_NAME).status_code == 303
    # An override would show the name backwards in the clerk's list: taken out too.
    assert (
        sign(name="\u202eAmira\u202c \u200eHassan\ufeff", email="b@example.org").status_code == 303
    )
    with app.app_context():
        names = [crypto().decrypt(s.name_enc) for s in signatures_in_db(app)]
    assert names == [STORED_NAME, "Amira Hassan"]


# Names with dots, apostrophes and hyphens that people really have: none is an address.
REAL_NAMES = [
    "J. Smith",
    "Dr. Ali",
    "St. Clair",
    "O'Brien",
    "Mary O\u2019Neil",
    "Anna-Karin Ek",
    "Hadžić",
    "A.B. Svensson",
    "J.R.R. Tolkien",
    "Ph.D. Ahmed",
    "Dr.Ali",  # typed without the space
    "A.Bo Lind",
    "K.Al-Hassan",
    STORED_NAME,  # Persian, with a zero width non-joiner
    "\u0623\u0645\u064a\u0646\u0629 \u062d\u0633\u0646",
    "Faadumo Cabdi Maxamed",
]
# What a mail program turns into a link, or an address to write to.
ADDRESS_NAMES = [
    "https://spam.example.com",
    "Anna http://x",
    "www.example.com",
    "WWW.Example.COM",
    "spam.example.com",
    "bit.ly/x",
    "Hej bit.ly/abc",
    "t.co/abc",
    "anna@example.org",
    "Anna @spam",
    "Besök example.com",
    "evil.se",
    "promo.click",
    "spam\u3002example\u3002com",  # ideographic full stops, read as dots by browsers
    "mail\uff20x.se",  # a fullwidth @
    "www\u200e.example.com",  # an invisible mark does not hide it
]
NO_ADDRESS = "Skriv bara ditt namn, utan webbadress eller e-postadress."


def test_real_names_with_dots_apostrophes_and_hyphens_are_taken(app, make_initiative, sign):
    make_initiative()
    for number, name in enumerate(REAL_NAMES):
        response = sign(name=name, email=f"signer{number}@example.org")
        assert response.status_code == 303, name
    with app.app_context():
        names = [crypto().decrypt(s.name_enc) for s in signatures_in_db(app)]
    assert names == REAL_NAMES


def test_a_name_with_a_web_or_email_address_is_refused_in_the_signers_language(
    app, client, make_initiative, sign
):
    """The confirmation mail greets the signer by name at any address typed in: a link
    in the name would be ours to deliver to anyone."""
    make_initiative()
    for name in ADDRESS_NAMES:
        response = sign(name=name)
        assert response.status_code == 400, name
        assert NO_ADDRESS in response.get_data(as_text=True), name
    client.set_cookie("lang", "ar")
    html = sign(name="bit.ly/x").get_data(as_text=True)
    assert escape_html(translated("ar", NO_ADDRESS)) in html
    assert signatures_in_db(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0


def _page_text(client, slug="amiralsgatan") -> str:
    html = client.get(f"/i/{slug}").get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_initiative_no_longer_collecting_shows_no_days_left_and_its_real_end(
    app, client, make_initiative
):
    """Withdrawn or closed early, the page said "90 dagar kvar" under "Insamlingen är
    stängd" and gave the planned end as the collection's; a period that has ended said
    "Sista dagen"."""
    from initiatives import lifecycle

    make_initiative("dragen", opens_days_ago=10, closes_in_days=90)
    make_initiative("stangd", opens_days_ago=10, closes_in_days=90)
    make_initiative("slut", opens_days_ago=90, closes_in_days=-1)
    with app.app_context():
        withdrawn = db.session.scalars(sa.select(Initiative).filter_by(slug="dragen")).one()
        lifecycle.withdraw(withdrawn, "test", reason="Vi samarbetar med ett annat initiativ.")
        closed = db.session.scalars(sa.select(Initiative).filter_by(slug="stangd")).one()
        lifecycle.close(closed, "test")
        db.session.commit()
        planned_end = closed.closes_at.astimezone(lifecycle.LOCAL_TZ).date()
        today = lifecycle.local_date(clock.utcnow())
    months = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ]

    def long(day):
        return f"{day.day} {months[day.month - 1]} {day.year}"

    for slug in ("dragen", "stangd"):
        text = _page_text(client, slug)
        assert "Insamlingen är stängd" in text
        assert "dagar kvar" not in text and "Sista dagen" not in text, slug
        assert f"– {long(today)}" in text, slug
        assert long(planned_end) not in text, slug
    ended = _page_text(client, "slut")
    assert "Tiden för att skriva under har gått ut." in ended
    assert "Sista dagen" not in ended and "kvar" not in ended
    # One still collecting counts its days as before.
    make_initiative("oppen", closes_in_days=10)
    assert "10 dagar kvar" in _page_text(client, "oppen")


# --- signing again while pending, with a corrected name ---------------------------------

REPLACED_LEAD = "Det finns en nyare länk."
REPLACED = (
    "Någon skrev under igen med den här e-postadressen och ändrade namnet eller "
    "postnumret, så vi skickade en ny länk till samma adress. Den här länken gäller inte "
    "längre. Använd länken i det senaste e-postmeddelandet och kontrollera att namnet "
    "stämmer innan du bekräftar."
)


def stored_details(app) -> tuple[str, str | None, str | None, str, int]:
    """The one signature's name, postcode, postcode area, language and details version."""
    [signature] = signatures_in_db(app)
    with app.app_context():
        box = crypto()
        return (
            box.decrypt(signature.name_enc),
            box.decrypt(signature.postcode_enc),
            signature.postcode_area,
            signature.locale,
            signature.details_version,
        )


def confirm_link(mail) -> str:
    return link_path(next(u for u in links_in(mail) if "/confirm/" in u))


def greeting(mail) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content().splitlines()[0]


def press(client, link: str):
    """Open a confirmation link and press its button, as a person would."""
    page = client.get(link)
    match = CSRF_RE.search(page.get_data(as_text=True))
    token = match.group(1) if match else csrf_token(client, "/i/amiralsgatan")
    return client.post(link, data={"csrf_token": token})


def test_a_corrected_name_signed_again_while_pending_replaces_the_misspelt_one(
    app, client, make_initiative, sign, deliver, smtp
):
    """Amira typed "Amira Hasan" and the wrong postcode; she notices on the thanks page and
    signs again at once, with her phone now in English.  Her signature carries the right
    name for the clerk's check, the new mail greets her by it, in English, and the first
    link (which greets the misspelt name) no longer confirms anything."""
    make_initiative()
    sign(name="Amira Hasan", postcode="212 14")
    deliver()
    [first] = smtp.wait_for(1)
    assert greeting(first) == "Hej Amira Hasan,"
    old_link = confirm_link(first)

    client.set_cookie("lang", "en")
    # Within the quiet minute: a changed name needs its new link now.
    sign(name="  Amira Hassan\u200f ", postcode="21364")
    assert stored_details(app) == ("Amira Hassan", "213 64", "213", "en", 1)
    deliver()
    second = smtp.wait_for(2)[1]
    assert greeting(second) == "Hello Amira Hassan,"
    new_link = confirm_link(second)
    assert new_link.split("?")[0] != old_link.split("?")[0]

    # The old link: a page that says a newer one was sent, and nothing is confirmed.
    client.set_cookie("lang", "sv")
    refused = client.get(old_link)
    assert refused.status_code == 410
    text = refused.get_data(as_text=True)
    assert REPLACED_LEAD in text and escape_html(REPLACED) in text
    assert "Bekräfta min underskrift" not in text
    assert press(client, old_link).status_code == 410
    assert [s.state for s in signatures_in_db(app)] == ["pending"]

    # The new one confirms the corrected name.
    assert press(client, new_link).status_code == 303
    [signature] = signatures_in_db(app)
    assert signature.state == "confirmed"
    assert stored_details(app)[0] == "Amira Hassan"
    assert count_shown(client) == 1


@pytest.mark.parametrize("locale", ["en", "ar", "so", "bs", "fa"])
def test_the_replaced_link_page_is_in_the_visitors_language(
    app, client, make_initiative, sign, locale
):
    make_initiative()
    sign(name="Amira Hasan")
    [signature] = signatures_in_db(app)
    with app.app_context():
        old_link = f"/confirm/{make_token(Purpose.CONFIRM, signature.public_id)}"
    sign(name="Amira Hassan")
    client.set_cookie("lang", locale)
    refused = client.get(old_link)
    assert refused.status_code == 410
    text = refused.get_data(as_text=True)
    for msgid in (REPLACED_LEAD, REPLACED):
        assert escape_html(translated(locale, msgid)) in text


def test_signing_again_with_the_same_details_changes_nothing_and_the_first_link_works(
    app, client, make_initiative, sign, deliver, smtp, a_minute_later
):
    """Outer spaces, an invisible mark, the postcode without its space, another language:
    the same details as the form reads them.  No new version, the quiet minute holds, and
    the first link still confirms."""
    make_initiative()
    sign(name="Amira Hassan", postcode="212 14")
    sign(name=" Amira Hassan\u200e", postcode="21214")  # a double tap
    assert confirm_mails_queued(app) == 1
    a_minute_later()
    client.set_cookie("lang", "en")
    sign(name="Amira Hassan", postcode="212 14")
    assert confirm_mails_queued(app) == 2
    assert stored_details(app) == ("Amira Hassan", "212 14", "212", "sv", 0)
    deliver()
    first, second = smtp.wait_for(2)
    assert greeting(first) == greeting(second) == "Hej Amira Hassan,"
    assert press(client, confirm_link(first)).status_code == 303
    assert [s.state for s in signatures_in_db(app)] == ["confirmed"]


def test_a_postcode_given_or_taken_away_is_a_change_too(app, make_initiative, sign):
    make_initiative()
    sign(postcode=None)
    sign(postcode="212 14")
    assert stored_details(app)[1:3] == ("212 14", "212")
    sign(postcode="")
    assert stored_details(app)[1:3] == (None, None)
    assert stored_details(app)[4] == 2
    assert confirm_mails_queued(app) == 3


def test_a_stranger_who_types_her_address_cannot_confirm_his_name_with_her_link(
    app, client, make_initiative, sign, deliver, smtp
):
    """Why a corrected name gets a new link rather than only a new name on the row.

    Amira signed and has the confirmation link in her mailbox, greeting "Amira Hassan".
    A stranger types her address with his own name.  Were the row only renamed, her old
    link would now confirm his name, under her address, and she would never know.  So his
    change makes a new link to *her* mailbox, greeting *his* name (she can see it is not
    hers, and ignore it), and her old link is refused.  He never sees a link, so he can
    confirm nothing; all he can do is make her sign once more, within the address's daily
    cap of mail.  Signing again with her own name gives her a link for her name.
    """
    make_initiative()
    amira, stranger = client, app.test_client()
    sign(who=amira, name="Amira Hassan")
    sign(who=stranger, name="Mallory Stranger")
    deliver()
    hers, his = smtp.wait_for(2)
    assert greeting(his) == "Hej Mallory Stranger,"  # to her address, not to him
    assert his["To"] == hers["To"] == "amira@example.org"
    assert press(amira, confirm_link(hers)).status_code == 410
    assert [s.state for s in signatures_in_db(app)] == ["pending"]

    sign(who=amira, name="Amira Hassan")
    deliver()
    mine = smtp.wait_for(3)[2]
    assert greeting(mine) == "Hej Amira Hassan,"
    assert press(amira, confirm_link(his)).status_code == 410
    assert press(amira, confirm_link(mine)).status_code == 303
    assert stored_details(app)[0] == "Amira Hassan"
    assert [s.state for s in signatures_in_db(app)] == ["confirmed"]


def corrections_logged(app) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action == "signature.details_corrected")
                .order_by(AuditEvent.id)
            )
        )


def test_a_pending_name_changed_by_signing_again_is_on_the_organisers_log_without_the_name(
    app, client, make_initiative, sign
):
    """A stranger who types Amira's address with his own name changes her pending
    signature: the organisers' log says so (which signature, from where, which fields),
    and holds neither name, postcode nor address.  Signing again unchanged, or the
    first signature, logs nothing."""
    initiative = make_initiative()
    amira, stranger = client, app.test_client()
    sign(who=amira, name="Amira Hassan", postcode="212 14")
    sign(who=amira, name=" Amira Hassan", postcode="21214")  # the same details again
    assert corrections_logged(app) == []

    sign(who=stranger, name="Mallory Stranger")
    stranger.set_cookie("lang", "en")
    sign(who=stranger, name="Mallory Stranger", postcode="213 64")
    [signature] = signatures_in_db(app)
    events = corrections_logged(app)
    assert [(e.actor, e.signature_id, e.initiative_id) for e in events] == [
        ("signer", signature.id, initiative.id)
    ] * 2
    assert [e.details for e in events] == [
        {"channel": "web", "fields": ["name"]},
        {"channel": "web", "fields": ["postcode", "locale"]},
    ]
    with app.app_context():
        stored = str(db.session.execute(sa.text("SELECT * FROM audit_events")).all())
    for personal in ("Amira", "Mallory", "Stranger", "212 14", "213 64", "21364", "example.org"):
        assert personal not in stored

    page = logged_in(app).get(f"/admin/initiatives/{initiative.slug}/audit")
    text = page.get_data(as_text=True)
    assert "Namn eller postnummer ändrat när någon skrev under igen" in text
    assert "channel: web; fields: postcode, locale" in text and f"(#{signature.id})" in text
    assert "Mallory" not in text


def test_when_the_daily_cap_is_reached_a_corrected_name_changes_nothing(
    app, client, make_initiative, sign, deliver, smtp, a_minute_later
):
    """No new link can go out, so the row keeps the details the newest link greets, and
    that link still confirms them."""
    make_initiative()
    cap = app.config["MAILS_PER_ADDRESS_PER_DAY"]
    for _ in range(cap):
        sign(name="Amira Hasan")
        a_minute_later()
    assert confirm_mails_queued(app) == cap
    sign(name="Amira Hassan", postcode="213 64")
    assert confirm_mails_queued(app) == cap
    assert stored_details(app) == ("Amira Hasan", "212 14", "212", "sv", 0)
    assert corrections_logged(app) == []
    deliver()
    newest = smtp.wait_for(cap)[-1]
    assert press(client, confirm_link(newest)).status_code == 303
    assert [s.state for s in signatures_in_db(app)] == ["confirmed"]


def test_a_link_made_before_links_carried_a_version_confirms_a_signature_never_changed(
    app, client, make_initiative, sign
):
    """Links already in mailboxes when this was deployed name the signature alone, signed
    with the same salt: they confirm a signature whose details were never changed, and
    are refused once they were."""
    from itsdangerous import URLSafeTimedSerializer

    make_initiative()
    sign(email="early@example.org")
    sign(email="changed@example.org")
    sign(email="changed@example.org", name="Amira Hassan-Ali")
    early, changed = signatures_in_db(app)
    assert (early.details_version, changed.details_version) == (0, 1)
    old_style = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="initiatives.token.confirm")
    assert press(client, f"/confirm/{old_style.dumps(early.public_id)}").status_code == 303
    assert press(client, f"/confirm/{old_style.dumps(changed.public_id)}").status_code == 410
    assert [s.state for s in signatures_in_db(app)] == ["confirmed", "pending"]


def test_a_confirmed_signature_keeps_its_name_when_signed_again(
    app, client, make_initiative, sign, deliver, smtp
):
    """Only a pending signature is corrected: a confirmed one is told "already signed"."""
    make_initiative()
    sign(name="Amira Hassan")
    deliver()
    assert press(client, confirm_link(smtp.wait_for(1)[0])).status_code == 303
    sign(name="Someone Else")
    assert stored_details(app)[0] == "Amira Hassan" and stored_details(app)[4] == 0
    assert mails_queued(app, "already_signed") == 1


def test_the_confirmation_page_shows_the_name_and_postcode_being_confirmed(
    app, client, make_initiative, sign
):
    """The owner of the mailbox sees whose signature the button confirms (after a
    stranger's correction, not hers), escaped, isolated for right-to-left scripts, and
    how to put it right."""
    make_initiative()
    sign(name="<script>alert(1)</script> Ali", email="ali@example.org", postcode="212 14")
    sign(name="أميرة حسن", email="amira@example.org", postcode=None)
    ali, amira = signatures_in_db(app)
    with app.app_context():
        links = [f"/confirm/{make_token(Purpose.CONFIRM, s.public_id)}" for s in (ali, amira)]

    page = client.get(links[0]).get_data(as_text=True)
    assert "<bdi>&lt;script&gt;alert(1)&lt;/script&gt; Ali</bdi>" in page
    assert "<script>alert" not in page
    assert '<bdi dir="ltr">212 14</bdi>' in page and "<dt>Postnummer</dt>" in page
    assert "Stämmer inte namnet eller postnumret?" in page

    page = client.get(links[1]).get_data(as_text=True)
    assert "<bdi>أميرة حسن</bdi>" in page
    assert "Ali" not in page and "Postnummer" not in page

    client.set_cookie("lang", "ar")
    page = client.get(links[1]).get_data(as_text=True)
    assert "<bdi>أميرة حسن</bdi>" in page and 'dir="rtl"' in page
    assert f"<dt>{translated('ar', 'Namn')}</dt>" in page


def test_a_correction_committed_while_an_old_link_is_pressed_is_not_confirmed(
    app, make_initiative, sign
):
    """The old link's POST read the signature (version 0: its link matched) just before
    a correction committed: its UPDATE must not confirm the corrected details, whose
    link went to the mailbox only now."""
    from initiatives import signature_states

    make_initiative()
    sign(name="Amira Hassan")
    with app.app_context():
        [signature] = db.session.scalars(sa.select(Signature)).all()
        assert signature.details_version == 0  # what the old link's request loaded
        # Meanwhile another request corrects it (no ORM sync: the loaded row stays as read).
        db.session.execute(
            sa.update(Signature)
            .where(Signature.id == signature.id)
            .values(details_version=1, name_enc=crypto().encrypt("Mallory Stranger"))
            .execution_options(synchronize_session=False)
        )
        outcome = signature_states.confirm(signature)
        db.session.commit()
    assert outcome == signature_states.ConfirmOutcome.NOT_CONFIRMABLE
    assert [s.state for s in signatures_in_db(app)] == ["pending"]


# --- "Menade du …?": a likely typo in a common provider's domain is asked about once ------

SUGGESTED = 'Menade du <span dir="ltr">amira@gmail.com</span>?'


def outbox_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))


def test_a_likely_typo_in_the_address_is_asked_about_and_nothing_is_stored(
    app, client, make_initiative, sign
):
    """amira@gmial.com would never get her link: the form comes back (not as an error)
    with everything she typed, the suggestion at the address, and nothing is stored."""
    make_initiative()
    response = sign(name="Amira Hassan", email="amira@gmial.com", postcode="212 14")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert SUGGESTED in page
    assert 'name="email_suggested" value="amira@gmail.com">' in page
    assert 'name="email_asked" type="hidden" value="amira@gmial.com"' in page
    assert 'value="Amira Hassan"' in page and 'value="212 14"' in page
    assert re.search(r'<input [^>]*id="email" [^>]*value="amira@gmial.com">', page)
    assert re.search(r'<input checked [^>]*id="resident"', page)
    assert re.search(r'<input checked [^>]*id="consent"', page)
    # Not an error: no error summary, no "Fel" in the title, nothing marked invalid.
    assert "error-summary" not in page and "<title>Fel" not in page
    assert 'aria-invalid="true"' not in page
    # The address field names the suggestion to a screen reader.
    assert 'aria-describedby="email-hint email-suggestion"' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert signatures_in_db(app) == []
    assert outbox_count(app) == 0


def test_taking_the_suggestion_signs_with_the_corrected_address_and_the_mail_goes_there(
    app, client, make_initiative, sign, deliver, smtp
):
    make_initiative()
    assert sign(email="amira@gmial.com").status_code == 200
    response = sign(
        email="amira@gmial.com",
        email_asked="amira@gmial.com",
        email_suggested="amira@gmail.com",
    )
    assert response.status_code == 303
    [signature] = signatures_in_db(app)
    with app.app_context():
        assert crypto().decrypt(signature.email_enc) == "amira@gmail.com"
    deliver()
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "amira@gmail.com"


def test_keeping_the_typed_address_signs_with_it_without_asking_again(
    app, client, make_initiative, sign, deliver, smtp
):
    """The ordinary button after the suggestion: the hidden field holds the typed
    address, so a second POST with it signs at once (also without the first)."""
    make_initiative()
    response = sign(email="amira@gmial.com", email_asked="amira@gmial.com")
    assert response.status_code == 303
    [signature] = signatures_in_db(app)
    with app.app_context():
        assert crypto().decrypt(signature.email_enc) == "amira@gmial.com"
    deliver()
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "amira@gmial.com"


def test_a_different_address_typed_after_the_suggestion_is_checked_again(
    app, client, make_initiative, sign
):
    """She changed the address instead of choosing: the new one is checked, and the
    suggestion's button, pressed after a change, does not override what she typed."""
    make_initiative()
    response = sign(email="amira@hotmail.con", email_asked="amira@gmial.com")
    assert response.status_code == 200
    assert 'Menade du <span dir="ltr">amira@hotmail.com</span>?' in response.get_data(as_text=True)
    response = sign(
        email="amira@hotmial.se",
        email_asked="amira@gmial.com",
        email_suggested="amira@gmail.com",
    )
    assert response.status_code == 200
    assert 'Menade du <span dir="ltr">amira@hotmail.se</span>?' in response.get_data(as_text=True)
    assert signatures_in_db(app) == []
    # A changed address with no typo signs at once.
    assert sign(email="amira@example.org", email_asked="amira@gmial.com").status_code == 303
    with app.app_context():
        [signature] = signatures_in_db(app)
        assert crypto().decrypt(signature.email_enc) == "amira@example.org"


def test_the_suggested_address_goes_through_the_same_checks_as_a_typed_one(
    app, client, make_initiative, sign
):
    make_initiative()
    response = sign(
        email="amira@gmial.com",
        email_asked="amira@gmial.com",
        email_suggested="amira@@gmail.com",
    )
    assert response.status_code == 400
    assert "Skriv en giltig e-postadress" in response.get_data(as_text=True)
    assert signatures_in_db(app) == []


def test_the_question_is_the_same_whether_or_not_the_address_has_signed(
    app, client, make_initiative, sign
):
    """It is asked from the text alone: it never tells whether an address signed."""
    make_initiative()
    before = sign(email="amira@gmial.com").get_data(as_text=True)
    assert sign(email="amira@gmial.com", email_asked="amira@gmial.com").status_code == 303
    after = sign(email="amira@gmial.com").get_data(as_text=True)
    assert CSRF_RE.sub("", before) == CSRF_RE.sub("", after)
    assert SUGGESTED in after


def test_the_question_is_never_cached_for_other_visitors(app, make_initiative):
    assert app.config["PUBLIC_CACHE_SECONDS"] > 0
    make_initiative()
    asked, other = app.test_client(), app.test_client()
    data = sign_form(email="amira@gmial.com", csrf_token=csrf_token(asked, "/i/amiralsgatan"))
    assert SUGGESTED in asked.post("/i/amiralsgatan/sign", data=data).get_data(as_text=True)
    for visitor in (asked, other):
        page = visitor.get("/i/amiralsgatan").get_data(as_text=True)
        assert "gmial" not in page and "Menade du" not in page


def test_the_question_in_arabic_shows_the_address_left_to_right(app, client, make_initiative, sign):
    make_initiative()
    client.set_cookie("lang", "ar")
    page = sign(email="amira@gmial.com").get_data(as_text=True)
    question = translated("ar", "Menade du %(address)s?")
    assert escape_html(question) % {"address": '<span dir="ltr">amira@gmail.com</span>'} in page
