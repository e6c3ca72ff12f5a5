"""Stand tablets over HTTP, on SQLite and PostgreSQL: enrolment, the device binding,
kiosk signatures under the web's rules, at-most-once UUIDs, limits per device, the PIN."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from initiatives import clock, kiosks, names, signature_states
from initiatives import kiosk as kiosk_module
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.i18n import available_locales, text_direction
from initiatives.kiosk_device import COOKIE, COOKIE_MAX_AGE
from initiatives.kiosk_signatures import (
    KioskReceipt,
    parse_device_time,
    start_of_today,
    today_count,
)
from initiatives.lifecycle import local_date
from initiatives.models import (
    AuditEvent,
    Channel,
    Initiative,
    InitiativeState,
    OutboxMessage,
    Signature,
)

from .concurrency_helpers import run_at_once
from .conftest import (
    correct_the_text,
    create_initiative,
    csrf_token,
    link_path,
    links_in,
    shown_text_version,
)

PIN = "2468"
TOKEN_RE = re.compile(r'<meta name="kiosk-token" content="([0-9a-f]+)">')


@dataclass
class Tablet:
    client: FlaskClient
    token: str

    def send(self, **fields: Any) -> Any:
        return self.client.post(
            "/kiosk/api/submissions",
            data=submission(**fields),
            headers={"X-Kiosk-Token": self.token},
        )


def submission(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Amira Hassan",
        "email": "amira@example.org",
        "postcode": "213 64",
        "resident": "y",
        "consent": "y",
        "initiative": "amiralsgatan",
        "client_uuid": str(uuid.uuid4()),
        "signed_at": "2026-03-01T10:15:00.000Z",
        "lang": "sv",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def new_kiosk(app: Flask, *slugs: str, name: str = "Stand 1") -> str:
    with app.app_context():
        chosen = [
            db.session.scalars(sa.select(Initiative).where(Initiative.slug == slug)).one()
            for slug in slugs or ("amiralsgatan",)
        ]
        _kiosk, code = kiosks.create(name, chosen, actor="test")
        db.session.commit()
        return code


def enrol(client: FlaskClient, code: str, pin: str = PIN, again: str | None = None) -> Any:
    data = {"code": code, "pin": pin, "pin_again": again or pin}
    data["csrf_token"] = csrf_token(client, "/kiosk")
    # What a browser sends under the kiosk's Referrer-Policy (same-origin).
    return client.post("/kiosk/enrol", data=data, headers={"Referer": "https://localhost/kiosk"})


def enrolled_tablet(app: Flask, code: str | None = None) -> Tablet:
    client = app.test_client()
    response = enrol(client, code or new_kiosk(app))
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get("/kiosk").get_data(as_text=True)
    return Tablet(client, TOKEN_RE.search(page).group(1))


def kiosk_rows(app: Flask) -> list[Signature]:
    with app.app_context():
        query = sa.select(Signature).where(Signature.channel == Channel.KIOSK)
        return list(db.session.scalars(query.order_by(Signature.id)))


def mails(app: Flask, kind: str) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == kind)
        )


def the_kiosk(app: Flask, name: str = "Stand 1") -> kiosks.Kiosk:
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk).where(kiosks.Kiosk.name == name)).one()
        db.session.expunge(kiosk)
        return kiosk


# --- enrolment ---------------------------------------------------------------------------


def test_without_enrolment_kiosk_shows_only_the_enrolment_page(app, client, make_initiative):
    make_initiative()
    page = client.get("/kiosk")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Koppla surfplattan till en station" in html
    assert 'id="sign"' not in html and "Tryggare Amiralsgatan" not in html
    assert page.headers["Cache-Control"] == "no-store"
    for path in ("/kiosk/sign/sv", "/kiosk/thanks/sv", "/kiosk/saved/ar", "/kiosk/volunteer"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["Location"] == "/kiosk", path
    assert client.get("/kiosk/shell.json").status_code == 403
    response = client.post("/kiosk/api/submissions", data=submission())
    assert response.status_code == 403 and response.json["status"] == "locked"
    assert kiosk_rows(app) == []


def test_enrolment_binds_the_device_with_a_strict_cookie_and_the_code_works_once(
    app, make_initiative
):
    make_initiative()
    code = new_kiosk(app)
    client = app.test_client()
    response = enrol(client, " " + kiosks.format_code(code).lower() + " ")  # typed loosely
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("kiosk_"))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/kiosk" in cookie
    assert "Secure" not in cookie  # BASE_URL is http in tests
    page = client.get("/kiosk").get_data(as_text=True)
    assert "Tryggare Amiralsgatan" in page and "Välj språk för att skriva under" in page

    again = enrol(app.test_client(), code)
    assert again.status_code == 400
    assert "Koden stämmer inte" in again.get_data(as_text=True)
    kiosk = the_kiosk(app)
    assert kiosk.status == "enrolled" and kiosk.code_hash is None and kiosk.enrolled_at


def test_the_device_cookie_is_secure_behind_https(make_app):
    app = make_app(BASE_URL="https://initiativ.example.org")
    create_initiative(app)
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    assert client.get("/kiosk").headers["Referrer-Policy"] == "same-origin"
    response = enrol(client, new_kiosk(app))
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("kiosk_"))
    assert "Secure" in cookie


def test_wrong_and_expired_codes_and_unequal_pins_are_refused(app, client, make_initiative):
    make_initiative()
    code = new_kiosk(app)
    wrong = enrol(client, "ABCD-EFGH")
    assert wrong.status_code == 400 and "Koden stämmer inte" in wrong.get_data(as_text=True)
    unequal = enrol(client, code, pin="2468", again="2469")
    assert unequal.status_code == 400
    assert "PIN-koderna är inte likadana" in unequal.get_data(as_text=True)
    short = enrol(client, code, pin="12")
    assert short.status_code == 400 and "4 till 12 siffror" in short.get_data(as_text=True)

    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        kiosk.code_expires_at = clock.utcnow() - timedelta(seconds=1)
        db.session.commit()
    expired = enrol(client, code)
    assert expired.status_code == 400
    assert "Koden har gått ut" in expired.get_data(as_text=True)
    assert "kiosk_device" not in str(expired.headers.getlist("Set-Cookie"))
    assert the_kiosk(app).status == "waiting"


def test_codes_are_unambiguous_and_stored_only_as_keyed_hashes(app, make_initiative):
    make_initiative()
    code = new_kiosk(app)
    assert len(code) == 8 and set(code) <= set(kiosks.CODE_ALPHABET)
    assert not set(code) & set("01ILO")
    kiosk = the_kiosk(app)
    assert kiosk.code_hash and code not in kiosk.code_hash
    assert kiosk.code_expires_at - clock.utcnow() <= timedelta(minutes=30)


def test_the_qr_link_fills_in_the_code(app, client, make_initiative):
    make_initiative()
    code = new_kiosk(app)
    page = client.get(f"/kiosk/enrol/{code}").get_data(as_text=True)
    assert f'value="{kiosks.format_code(code)}"' in page


def test_a_revoked_device_is_locked_out_on_its_next_request(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    assert tablet.send().status_code == 200
    with app.app_context():
        kiosks.revoke(kiosks.by_name("Stand 1"), actor="test")
        db.session.commit()

    page = tablet.client.get("/kiosk")
    assert "Koppla surfplattan till en station" in page.get_data(as_text=True)
    assert any(
        c.startswith("kiosk_device=;") for c in page.headers.getlist("Set-Cookie")
    )  # the stale cookie is deleted
    response = tablet.send()
    assert response.status_code == 403 and response.json["status"] == "locked"
    assert len(kiosk_rows(app)) == 1
    assert the_kiosk(app).status == "revoked"


def test_a_new_code_for_the_kiosk_locks_out_the_old_tablet(app, make_initiative):
    make_initiative()
    old = enrolled_tablet(app)
    with app.app_context():
        code = kiosks.issue_code(kiosks.by_name("Stand 1"))
        db.session.commit()
    new = enrolled_tablet(app, code)
    assert old.send().status_code == 403
    assert new.send().status_code == 200


def test_a_code_sent_twice_at_once_enrols_one_tablet_and_the_other_is_told(app, make_initiative):
    """Two tablets given one code (or one form sent again on a flaky connection): the
    code works once.  It worked for both on PostgreSQL, and the tablet whose binding was overwritten
    was told it was enrolled, then shown the enrolment again on its next page."""
    make_initiative()
    code = new_kiosk(app)
    tablets = [app.test_client() for _ in range(2)]

    def enrolment(tablet: FlaskClient) -> Callable[[], int]:
        data = {"code": code, "pin": PIN, "pin_again": PIN}
        data["csrf_token"] = csrf_token(tablet, "/kiosk")
        headers = {"Referer": "https://localhost/kiosk"}
        return lambda: tablet.post("/kiosk/enrol", data=data, headers=headers).status_code

    statuses = run_at_once([enrolment(t) for t in tablets])
    assert sorted(statuses) == [303, 400]
    for tablet, status in zip(tablets, statuses, strict=True):
        page = tablet.get("/kiosk").get_data(as_text=True)
        enrolled = "Välj språk för att skriva under" in page
        assert enrolled == (status == 303)


# --- kiosk signatures ----------------------------------------------------------------------


def test_the_device_token_is_required_and_bound_to_the_device(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    other = enrolled_tablet(app, new_kiosk(app, name="Stand 2"))
    url = "/kiosk/api/submissions"
    assert tablet.client.post(url, data=submission()).status_code == 403
    bad = {"X-Kiosk-Token": "0" * 64}
    assert tablet.client.post(url, data=submission(), headers=bad).status_code == 403
    theirs = {"X-Kiosk-Token": other.token}
    assert tablet.client.post(url, data=submission(), headers=theirs).status_code == 403
    # A header with a byte beyond ASCII (a proxy's or a forger's) is refused, not a 500.
    garbled = {"X-Kiosk-Token": tablet.token[:-1] + "å"}
    answer = tablet.client.post(url, data=submission(), headers=garbled)
    assert (answer.status_code, answer.json) == (403, {"status": "locked"})
    assert kiosk_rows(app) == []
    assert tablet.send().status_code == 200


def test_a_submission_uuid_is_accepted_at_most_once(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    same = str(uuid.uuid4())
    first = tablet.send(client_uuid=same)
    second = tablet.send(client_uuid=same)
    changed = tablet.send(client_uuid=same.upper(), name="Someone Else", email="else@example.org")
    assert first.status_code == second.status_code == changed.status_code == 200
    assert first.json == second.json == changed.json == {"status": "received", "uuid": same}
    [row] = kiosk_rows(app)
    assert row.client_uuid == same
    assert mails(app, "confirm") == 1


def test_a_repeat_for_an_address_that_signed_sends_one_mail_not_one_per_retry(
    app, make_initiative, a_minute_later
):
    make_initiative()
    tablet = enrolled_tablet(app)
    assert tablet.send().status_code == 200
    a_minute_later()  # not a double tap: she comes back to the stand
    repeat = str(uuid.uuid4())
    for _ in range(3):  # the same person again at the stand; the device retries twice
        assert tablet.send(client_uuid=repeat, email=" AMIRA@example.org").status_code == 200
    assert len(kiosk_rows(app)) == 1
    assert mails(app, "confirm") == 2  # the first link, and one fresh link


def test_a_corrected_name_at_the_stand_replaces_the_misspelt_one_and_its_link(
    app, client, make_initiative, deliver, smtp
):
    """At the stand Amira sees she typed "Amira Hasan" and the volunteer lets her sign
    again at once, in Arabic: as on the web, the row takes the corrected name and
    language, the new mail greets it, and only the new link confirms."""
    make_initiative()
    tablet = enrolled_tablet(app)
    assert tablet.send(name="Amira Hasan").status_code == 200
    assert tablet.send(name="Amira Hassan", postcode="21214", lang="ar").status_code == 200
    [row] = kiosk_rows(app)
    with app.app_context():
        assert crypto().decrypt(row.name_enc) == "Amira Hassan"
        assert crypto().decrypt(row.postcode_enc) == "212 14"
    assert (row.postcode_area, row.locale, row.details_version) == ("212", "ar", 1)
    assert row.channel == "kiosk" and row.kiosk_id == the_kiosk(app).id
    # The organisers' log says the stand changed a pending signature, never to what.
    with app.app_context():
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "signature.details_corrected")
        ).all()
        assert (event.actor, event.signature_id) == ("kiosk:Stand 1", row.id)
        assert event.details == {"channel": "kiosk", "fields": ["name", "postcode", "locale"]}

    deliver()
    first, second = smtp.wait_for(2)
    assert "Amira Hasan," in first.get_body(preferencelist=("plain",)).get_content()
    assert "Amira Hassan" in second.get_body(preferencelist=("plain",)).get_content()
    old, new = (
        link_path(next(u for u in links_in(m) if "/confirm/" in u)) for m in (first, second)
    )
    token = csrf_token(client, "/i/amiralsgatan")
    assert client.post(old, data={"csrf_token": token}).status_code == 410
    assert client.post(new, data={"csrf_token": token}).status_code == 303
    assert [r.state for r in kiosk_rows(app)] == ["confirmed"]


def test_kiosk_signatures_follow_the_web_rules_and_keep_both_times(
    app, client, make_initiative, deliver, smtp
):
    make_initiative()
    tablet = enrolled_tablet(app)
    before = clock.utcnow()
    assert tablet.send(lang="ar", signed_at="2026-03-01T10:15:00.000Z").status_code == 200
    [row] = kiosk_rows(app)
    assert row.state == "pending" and row.locale == "ar" and row.kiosk_id == the_kiosk(app).id
    assert row.device_signed_at == datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    assert row.created_at >= before  # the server's receipt time
    assert row.client_hash is None  # a stand's address says nothing about anyone

    # Only confirmation from the signer's own email makes it count.
    assert deliver().sent == 1
    [mail] = smtp.wait_for(1)
    confirm = next(u for u in links_in(mail) if "/confirm/" in u)
    token = csrf_token(client, link_path(confirm))
    assert client.post(link_path(confirm), data={"csrf_token": token}).status_code == 303
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == 1


def test_invalid_fields_get_422_with_the_forms_messages(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    response = tablet.send(name="", email="not-an-address", consent=None)
    assert response.status_code == 422
    errors = response.json["errors"]
    assert errors["name"] == "Skriv ditt namn."
    assert errors["email"].startswith("Skriv en giltig e-postadress")
    assert errors["consent"].startswith("Vi behöver ditt samtycke")
    assert tablet.send(client_uuid="not-a-uuid").status_code == 422
    assert tablet.send(client_uuid=None).status_code == 422
    assert kiosk_rows(app) == []


def test_a_tablets_name_loses_its_direction_controls_and_keeps_its_non_joiner(app, make_initiative):
    """Sent now or from the offline queue, and through the form without the script."""
    from .test_signing import PASTED_NAME, STORED_NAME

    make_initiative()
    tablet = enrolled_tablet(app)
    assert tablet.send(name=PASTED_NAME).status_code == 200
    page = "/kiosk/sign/sv"
    form = submission(name="\u202eAmira\u202c Hassan", email="b@example.org")
    form["csrf_token"] = csrf_token(tablet.client, page)
    form["text_version"] = shown_text_version(tablet.client.get(page).get_data(as_text=True))
    assert tablet.client.post(page, data=form).status_code == 303
    with app.app_context():
        names = [crypto().decrypt(row.name_enc) for row in kiosk_rows(app)]
    assert names == [STORED_NAME, "Amira Hassan"]


def test_a_tablet_refuses_a_name_with_an_address_entry_by_entry_and_takes_real_names(
    app, make_initiative
):
    """A queued signature is checked when it arrives, like one sent at once: the refusal
    is the entry's own 422 (the volunteer's panel counts it), in the signer's language."""
    from .test_i18n import translated  # here: test_i18n imports this module
    from .test_signing import ADDRESS_NAMES, NO_ADDRESS, REAL_NAMES

    make_initiative()
    tablet = enrolled_tablet(app)
    for name in ADDRESS_NAMES:
        response = tablet.send(name=name)
        assert response.status_code == 422, name
        assert response.json == {"status": "invalid", "errors": {"name": NO_ADDRESS}}, name
    arabic = tablet.send(name="www.example.com", lang="ar")
    assert arabic.json["errors"]["name"] == translated("ar", NO_ADDRESS)
    page = "/kiosk/sign/sv"
    form = submission(name="bit.ly/x")
    form["csrf_token"] = csrf_token(tablet.client, page)
    refused = tablet.client.post(page, data=form)
    assert refused.status_code == 400 and NO_ADDRESS in refused.get_data(as_text=True)
    assert kiosk_rows(app) == []

    for number, name in enumerate(REAL_NAMES):
        assert tablet.send(name=name, email=f"s{number}@example.org").status_code == 200, name
    with app.app_context():
        assert [crypto().decrypt(row.name_enc) for row in kiosk_rows(app)] == REAL_NAMES


def test_the_tablets_form_carries_the_servers_address_pattern_for_its_offline_check(
    app, make_initiative
):
    from .test_i18n import escape_html, translated  # here: test_i18n imports this module

    make_initiative()
    tablet = enrolled_tablet(app)
    html = tablet.client.get("/kiosk/sign/so").get_data(as_text=True)
    name_input = re.search(r'<input[^>]*id="name"[^>]*>', html).group(0)
    assert f'data-address-pattern="{escape_html(names.CLIENT_ADDRESS_PATTERN)}"' in name_input
    message = escape_html(
        translated("so", "Skriv bara ditt namn, utan webbadress eller e-postadress.")
    )
    assert f'data-address-message="{message}"' in name_input
    assert "data-invisible-pattern=" in name_input
    assert "\u202e" not in html  # the pattern names the controls, it does not hold them


def test_a_closed_initiative_is_refused_with_409_and_nothing_is_stored(app, make_initiative):
    make_initiative(state=InitiativeState.CLOSED)
    tablet = enrolled_tablet(app)
    response = tablet.send()
    assert response.status_code == 409 and response.json["status"] == "closed"
    assert tablet.client.get("/kiosk/sign/sv").status_code == 409
    data = submission()
    data["csrf_token"] = csrf_token(tablet.client, "/kiosk/volunteer")
    assert tablet.client.post("/kiosk/sign/sv", data=data).status_code == 409
    assert kiosk_rows(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(KioskReceipt.client_uuid))) == 0


def test_a_closed_start_screen_says_so_in_every_language_the_tablet_offers(app, make_initiative):
    """The start screen is Swedish and, closed, has no languages to choose: the resident
    who walks up to it reads in her own language that she cannot sign here now."""
    make_initiative(state=InitiativeState.CLOSED)
    tablet = enrolled_tablet(app)
    page = tablet.client.get("/kiosk").get_data(as_text=True)
    assert "Här går det inte att skriva under just nu" in page
    assert '<li lang="ar" dir="rtl">لا يمكن التوقيع هنا الآن</li>' in page
    assert '<li lang="en" dir="ltr">You cannot sign here right now</li>' in page
    assert '<li lang="so" dir="ltr">Hadda halkan lagama saxiixi karo</li>' in page
    with app.app_context():
        offered = set(available_locales()) - {"sv"}
    assert set(re.findall(r'<li lang="(\w+)" dir="\w+">', page)) == offered
    assert "kiosk-language" not in page  # nothing to choose


def test_an_open_start_screen_offers_languages_not_a_closed_notice(app, make_initiative):
    make_initiative()
    page = enrolled_tablet(app).client.get("/kiosk").get_data(as_text=True)
    assert "kiosk-closed-languages" not in page and 'class="kiosk-language"' in page
    # What it is called everywhere else: "Medborgarförslag" is the city's former, other
    # instrument.
    assert "Malmöinitiativ till Tekniska nämnden" in page and "Medborgarförslag" not in page


def test_a_kiosk_signs_only_for_its_assigned_initiatives(app, make_initiative):
    make_initiative()
    make_initiative("parklek")
    tablet = enrolled_tablet(app)  # assigned amiralsgatan only
    response = tablet.send(initiative="parklek")
    assert response.status_code == 403 and response.json["status"] == "not_assigned"
    assert tablet.send(initiative="no-such-initiative").status_code == 403
    assert kiosk_rows(app) == []


def test_a_repeat_of_a_stored_submission_is_acknowledged_after_the_collection_closed(
    app, make_initiative
):
    """The server stored a signature but its answer was lost on the stand's connection,
    so the tablet sends it again, after the collection closed: "received", not "closed"
    (which the tablet would count as refused)."""
    make_initiative()
    tablet = enrolled_tablet(app)
    same = str(uuid.uuid4())
    assert tablet.send(client_uuid=same).status_code == 200
    with app.app_context():
        db.session.scalars(sa.select(Initiative)).one().state = InitiativeState.CLOSED
        db.session.commit()
    replay = tablet.send(client_uuid=same)
    assert (replay.status_code, replay.json) == (200, {"status": "received", "uuid": same})
    assert len(kiosk_rows(app)) == 1
    # A new submission is still refused.
    assert tablet.send().status_code == 409
    assert len(kiosk_rows(app)) == 1


@pytest.mark.parametrize("signed_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_device_time_beyond_what_utc_can_hold_is_dropped_not_a_500(
    app, make_initiative, signed_at
):
    make_initiative()
    tablet = enrolled_tablet(app)
    response = tablet.send(signed_at=signed_at)
    assert response.status_code == 200, response.get_data(as_text=True)
    [row] = kiosk_rows(app)
    assert row.device_signed_at is None
    assert parse_device_time(signed_at) is None


def test_enrolling_again_over_a_stale_device_cookie_keeps_the_new_binding(app, make_initiative):
    """The tablet of a revoked kiosk still holds its SameSite=Strict cookie.  Opened from
    an organiser's link in chat or a QR scan (cross-site), the enrolment page gets no
    cookie; the form's POST (same-site) does.  The answer binds the tablet: it does not
    set the new cookie and then delete it (which burnt the one-time code)."""
    make_initiative()
    tablet = enrolled_tablet(app)
    stale = tablet.client.get_cookie(COOKIE, path="/kiosk").value
    with app.app_context():
        kiosks.revoke(kiosks.by_name("Stand 1"), actor="test")
        db.session.commit()
    code = new_kiosk(app)
    client = tablet.client
    client.delete_cookie(COOKIE, path="/kiosk")  # the cross-site GET does not send it
    token = csrf_token(client, f"/kiosk/enrol/{code}")
    client.set_cookie(COOKIE, stale, path="/kiosk")  # the same-site POST does
    response = client.post(
        "/kiosk/enrol",
        data={"code": code, "pin": PIN, "pin_again": PIN, "csrf_token": token},
        headers={"Referer": "https://localhost/kiosk"},
    )
    assert response.status_code == 303
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}=")]
    assert len(cookies) == 1 and not cookies[0].startswith(f"{COOKIE}=;"), cookies
    assert "Välj språk för att skriva under" in client.get("/kiosk").get_data(as_text=True)


def test_the_form_works_without_the_script_post_redirect_get(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    page = tablet.client.get("/kiosk/sign/ar")
    html = page.get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert html.count('autocomplete="off"') >= 6  # the form and each of its fields
    data = submission(client_uuid=None)
    refused = tablet.client.post("/kiosk/sign/sv", data=data)  # no CSRF token
    assert refused.status_code == 400
    error_page = refused.get_data(as_text=True)
    # The error screen stays inside the kiosk: no links out to the public site.
    assert 'class="kiosk"' in error_page and "Ladda om sidan" in error_page
    assert 'href="/"' not in error_page
    in_arabic = tablet.client.post("/kiosk/sign/ar", data=data)
    assert in_arabic.status_code == 400 and 'lang="ar"' in in_arabic.get_data(as_text=True)
    data["csrf_token"] = csrf_token(tablet.client, "/kiosk/sign/ar")
    invalid = tablet.client.post("/kiosk/sign/ar", data={**data, "email": "x"})
    assert invalid.status_code == 400 and "error-summary" in invalid.get_data(as_text=True)
    response = tablet.client.post("/kiosk/sign/ar", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/thanks/ar"
    thanks = tablet.client.get("/kiosk/thanks/ar").get_data(as_text=True)
    assert "amira" not in thanks.lower()
    [row] = kiosk_rows(app)
    assert row.locale == "ar" and row.client_uuid is None


def test_rate_limits_apply_per_device_not_per_address(make_app):
    app = make_app(
        RATELIMIT_ENABLED=True, KIOSK_RATE_LIMIT="2 per minute", SIGN_RATE_LIMIT="1 per minute"
    )
    create_initiative(app)
    first = enrolled_tablet(app)
    second = enrolled_tablet(app, new_kiosk(app, name="Stand 2"))  # same address
    assert [first.send().status_code for _ in range(3)] == [200, 200, 429]
    assert second.send().status_code == 200


def test_pin_tries_are_limited_per_device(make_app):
    app = make_app(RATELIMIT_ENABLED=True, KIOSK_PIN_RATE_LIMIT="2 per minute")
    create_initiative(app)
    tablet = enrolled_tablet(app)
    for pin in ("0000", "1111"):
        token = csrf_token(tablet.client, "/kiosk/volunteer")
        response = tablet.client.post("/kiosk/volunteer", data={"pin": pin, "csrf_token": token})
        assert response.status_code == 400
    token = csrf_token(tablet.client, "/kiosk/volunteer")
    right = tablet.client.post("/kiosk/volunteer", data={"pin": PIN, "csrf_token": token})
    assert right.status_code == 429


# --- the volunteer -------------------------------------------------------------------------


def unlock(tablet: Tablet, pin: str = PIN) -> Any:
    token = csrf_token(tablet.client, "/kiosk/volunteer")
    return tablet.client.post("/kiosk/volunteer", data={"pin": pin, "csrf_token": token})


def test_the_pin_guards_the_volunteer_controls(app, make_initiative):
    make_initiative()
    make_initiative(
        "parklek", texts={"sv": {"title": "Ny lekplats", "summary": "Gungor.", "body": "."}}
    )
    tablet = enrolled_tablet(app, new_kiosk(app, "amiralsgatan", "parklek"))
    assert tablet.send().status_code == 200
    panel = tablet.client.get("/kiosk/volunteer/panel")
    assert panel.status_code == 303 and panel.headers["Location"] == "/kiosk/volunteer"
    assert unlock(tablet, "9999").status_code == 400
    assert unlock(tablet).headers["Location"] == "/kiosk/volunteer/panel"

    html = tablet.client.get("/kiosk/volunteer/panel").get_data(as_text=True)
    assert re.search(r"data-today-received>1<", html)
    assert "Amira" not in html.replace("Amiralsgatan", "") and "amira@" not in html

    token = csrf_token(tablet.client, "/kiosk/volunteer/panel")
    moved = tablet.client.post(
        "/kiosk/volunteer/switch", data={"initiative": "parklek", "csrf_token": token}
    )
    assert moved.status_code == 303
    assert "Ny lekplats" in tablet.client.get("/kiosk").get_data(as_text=True)
    # Switching locked the controls again.
    assert tablet.client.get("/kiosk/volunteer/panel").status_code == 303

    unlock(tablet)
    token = csrf_token(tablet.client, "/kiosk/volunteer/panel")
    left = tablet.client.post("/kiosk/volunteer/leave", data={"csrf_token": token})
    assert left.status_code == 303
    assert any(c.startswith("kiosk_device=;") for c in left.headers.getlist("Set-Cookie"))
    assert the_kiosk(app).status == "waiting"
    assert tablet.send().status_code == 403


def test_a_pin_is_the_same_number_whichever_keyboard_typed_it(app, make_initiative):
    """Set on an Arabic keyboard (٢٤٦٨), the PIN opens the controls from a Latin keypad
    (2468) or a Persian one (۲۴۶۸), and a wrong one in any script still does not.  The
    enrolment code typed on that keyboard works too."""
    make_initiative()
    client = app.test_client()
    code = new_kiosk(app)
    with app.app_context():  # a code with digits in it (most have some)
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        while not any(c.isdigit() for c in code):
            code = kiosks.issue_code(kiosk)
        db.session.commit()
    # The one-time code's digits may come from that keyboard too.
    arabic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert arabic != code
    assert enrol(client, arabic, pin="٢٤٦٨").status_code == 303
    tablet = Tablet(client, TOKEN_RE.search(client.get("/kiosk").get_data(as_text=True)).group(1))
    assert unlock(tablet, "۱۳۵۷").status_code == 400
    for pin in ("2468", "۲۴۶۸", "٢٤٦٨"):
        assert unlock(tablet, pin).headers["Location"] == "/kiosk/volunteer/panel", pin
        token = csrf_token(tablet.client, "/kiosk/volunteer/panel")
        tablet.client.post("/kiosk/volunteer/lock", data={"csrf_token": token})


def test_a_switch_to_an_unassigned_initiative_is_refused(app, make_initiative):
    make_initiative()
    make_initiative("parklek")
    tablet = enrolled_tablet(app)
    unlock(tablet)
    token = csrf_token(tablet.client, "/kiosk/volunteer/panel")
    response = tablet.client.post(
        "/kiosk/volunteer/switch", data={"initiative": "parklek", "csrf_token": token}
    )
    assert response.status_code == 400


def test_todays_count_is_an_aggregate_of_this_kiosk_since_midnight(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    other = enrolled_tablet(app, new_kiosk(app, name="Stand 2"))
    for n in range(3):
        assert tablet.send(email=f"person{n}@example.org").status_code == 200
    assert other.send(email="elsewhere@example.org").status_code == 200
    with app.app_context():
        rows = db.session.scalars(sa.select(Signature).order_by(Signature.id)).all()
        rows[0].created_at = start_of_today() - timedelta(minutes=1)  # yesterday
        rows[1].state = "confirmed"
        db.session.commit()
        count = today_count(kiosks.by_name("Stand 1"))
    assert (count.received, count.confirmed) == (2, 1)


def test_start_of_today_is_midnight_in_malmo():
    summer = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # 23:30 in Malmö (CEST)
    assert start_of_today(summer) == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    after_midnight = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 July
    assert start_of_today(after_midnight) == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T10:15:00.000Z", datetime(2026, 3, 1, 10, 15, tzinfo=UTC)),
        ("2026-03-01T11:15:00+01:00", datetime(2026, 3, 1, 10, 15, tzinfo=UTC)),
        ("2026-03-01T10:15:00", None),  # no zone: cannot be placed in time
        ("yesterday", None),
        ("", None),
        ("2030-01-01T00:00:00Z", None),  # a clock far ahead
    ],
)
def test_the_device_time_is_kept_only_when_plausible(value, expected):
    now = datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_device_time(value, now) == expected


# --- languages, headers, the offline shell --------------------------------------------------


def test_kiosk_pages_ignore_the_sites_language_cookie(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    tablet.client.set_cookie("lang", "en")
    assert '<html lang="sv" dir="ltr">' in tablet.client.get("/kiosk").get_data(as_text=True)
    html = tablet.client.get("/kiosk/sign/ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    # The next signer starts in Swedish again.
    assert '<html lang="sv" dir="ltr">' in tablet.client.get("/kiosk").get_data(as_text=True)
    missing = tablet.client.get("/kiosk/sign/xx")
    assert missing.status_code == 404 and 'class="kiosk"' in missing.get_data(as_text=True)
    assert tablet.client.get("/kiosk/").headers["Location"] == "/kiosk"


def test_kiosk_pages_are_not_stored_and_allow_no_inline_script(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    for path in ("/kiosk", "/kiosk/sign/sv", "/kiosk/thanks/sv", "/kiosk/saved/sv"):
        response = tablet.client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "<script>" not in response.get_data(as_text=True)


def test_the_service_worker_and_its_shell(app, make_initiative):
    make_initiative()
    make_initiative("parklek")
    tablet = enrolled_tablet(app, new_kiosk(app, "amiralsgatan", "parklek"))
    worker = tablet.client.get("/kiosk/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/kiosk"
    shell = tablet.client.get("/kiosk/shell.json").json
    assert "/kiosk" in shell["pages"] and "/kiosk/saved/ar" in shell["pages"]
    assert "/static/js/kiosk-queue.js" in shell["assets"]
    assert not [p for p in shell["pages"] if "volunteer" in p or "api" in p]

    unlock(tablet)
    token = csrf_token(tablet.client, "/kiosk/volunteer/panel")
    tablet.client.post(
        "/kiosk/volunteer/switch", data={"initiative": "parklek", "csrf_token": token}
    )
    assert tablet.client.get("/kiosk/shell.json").json["version"] != shell["version"]


LEAD_RE = re.compile(r'<p class="lead">(.+?)</p>', re.S)
HREF_RE = re.compile(r'<a [^>]*href="([^"]*)"')


def test_the_privacy_notice_opens_inside_the_kiosk_in_each_language(app, make_initiative):
    """Consent to the processing must be informed: the form links to the privacy notice,
    and the notice is a screen of the loop (the public page would leave the kiosk)."""
    make_initiative()
    tablet = enrolled_tablet(app)
    assert tablet.send(name="Amira Hassan", email="amira@example.org").status_code == 200
    web = app.test_client()
    for code in available_locales():
        response = tablet.client.get(f"/kiosk/privacy/{code}")
        assert response.status_code == 200, code
        html = response.get_data(as_text=True)
        assert f'<html lang="{code}" dir="{text_direction(code)}">' in html
        # The public notice's own text, in the same language (one text, not a copy).
        web.set_cookie("lang", code)
        public = web.get("/privacy").get_data(as_text=True)
        assert LEAD_RE.search(html).group(1) == LEAD_RE.search(public).group(1), code
        assert "imy.se" in html
        # Locked chrome: no site header or footer, no link out of the kiosk.
        assert 'class="kiosk"' in html and "site-header" not in html
        assert "site-footer" not in html
        assert [h for h in HREF_RE.findall(html) if not h.startswith("/kiosk")] == [], code
        # Back to the form of the same language.
        assert f'href="/kiosk/sign/{code}"' in html
        # No personal data: no form, no signer, and never stored by the browser.
        assert "<form" not in html and "<input" not in html
        assert "Amira Hassan" not in html and "amira@example.org" not in html
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "<script>" not in html

        sign = tablet.client.get(f"/kiosk/sign/{code}").get_data(as_text=True)
        assert f'href="/kiosk/privacy/{code}"' in sign and "data-privacy-notice" in sign
        assert LEAD_RE.search(public).group(1) in sign, code
        assert [h for h in HREF_RE.findall(sign) if not h.startswith("/kiosk")] == [], code

    assert tablet.client.get("/kiosk/privacy/xx").status_code == 404
    unknown = app.test_client().get("/kiosk/privacy/sv")
    assert unknown.status_code == 303 and unknown.headers["Location"] == "/kiosk"


def test_the_privacy_notice_is_kept_for_offline_use(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    shell = tablet.client.get("/kiosk/shell.json").json
    assert {f"/kiosk/privacy/{code}" for code in available_locales()} <= set(shell["pages"])
    # What the notice says about keeping data changes with the settings: a tablet with
    # the old notice in its cache fetches it again.
    app.config["ANONYMISE_AFTER_DAYS"] += 1
    assert tablet.client.get("/kiosk/shell.json").json["version"] != shell["version"]


def _screen_templates() -> set[Path]:
    """The templates the tablet's kept screens are made of: the kiosk's own and all
    they extend, include or import."""
    root = Path(kiosk_module.__file__).resolve().parent.parent / "templates"
    found: set[Path] = set()
    todo = list((root / "kiosk").glob("*.html"))
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        for name in re.findall(
            r'{%-?\s*(?:extends|include|import|from)\s+"([^"]+)"', path.read_text("utf-8")
        ):
            todo.append(root / name)
    return found


def test_a_changed_setting_the_kept_screens_show_refreshes_the_tablets_copy(app, make_initiative):
    """The tablet keeps its screens offline and fetches them again only when their
    fingerprint changes: every setting those screens read (an idle time, the days to
    confirm, the notice's retention periods) must be part of it, or a changed setting
    reaches the tablets only with the next release."""
    templates = _screen_templates()
    assert any(p.name == "_privacy_notice.html" for p in templates)  # followed includes
    read = {
        name
        for path in templates
        for name in re.findall(r"\bconfig\.([A-Z][A-Z0-9_]*)", path.read_text("utf-8"))
    }
    assert "KIOSK_IDLE_SECONDS" in read
    assert sorted(read - set(kiosk_module.SCREEN_SETTINGS)) == []

    make_initiative()
    tablet = enrolled_tablet(app)
    for name in ("KIOSK_IDLE_SECONDS", "KIOSK_READING_IDLE_SECONDS", "KIOSK_THANKS_SECONDS"):
        before = tablet.client.get("/kiosk/shell.json").json["version"]
        app.config[name] += 5
        assert tablet.client.get("/kiosk/shell.json").json["version"] != before, name


PROPOSAL_SV_AR = {
    "sv": {
        "title": "Tryggare Amiralsgatan",
        "summary": "Säkra övergångar.",
        "body": "Vi föreslår säkra övergångar vid skolan.\n\nOch en cykelbana & fler träd.",
    },
    "ar": {
        "title": "شارع أميرالسغاتان أكثر أمانًا",
        "summary": "معابر آمنة.",
        "body": "نقترح معابر آمنة قرب المدرسة.\n\nومسارًا للدراجات.",
    },
}
PROPOSAL_RE = re.compile(r"<details class=\"kiosk-proposal\"(.*?)</details>", re.S)


def test_the_sign_screen_holds_the_whole_proposal_in_the_signers_language(app, make_initiative):
    """The signature records the whole text, so the resident can read all of it on the
    tablet, without leaving the form: in her language, else in Swedish with a note (as
    on the web), and from the tablet's offline copy, which is refreshed when it changes."""
    make_initiative(texts=PROPOSAL_SV_AR)
    tablet = enrolled_tablet(app)

    arabic = tablet.client.get("/kiosk/sign/ar").get_data(as_text=True)
    [proposal] = PROPOSAL_RE.findall(arabic)
    assert "<p>نقترح معابر آمنة قرب المدرسة.</p>\n<p>ومسارًا للدراجات.</p>" in proposal
    assert "Vi föreslår" not in arabic
    assert 'lang="sv"' not in proposal  # the page's own language and direction (rtl)

    swedish = tablet.client.get("/kiosk/sign/sv").get_data(as_text=True)
    [proposal] = PROPOSAL_RE.findall(swedish)
    assert "<p>Vi föreslår säkra övergångar vid skolan.</p>" in proposal
    assert "<p>Och en cykelbana &amp; fler träd.</p>" in proposal  # escaped, as on the web
    assert "<summary" in proposal and "Läs hela förslaget" in proposal

    # No Persian text yet: the Swedish body, marked as Swedish, left to right.
    persian = tablet.client.get("/kiosk/sign/fa").get_data(as_text=True)
    [proposal] = PROPOSAL_RE.findall(persian)
    assert 'lang="sv" dir="ltr"' in proposal
    assert "<p>Vi föreslår säkra övergångar vid skolan.</p>" in proposal

    # The screens the tablet keeps offline include the sign screens, and a corrected
    # body changes the shell's version, so the tablet fetches the new text.
    shell = tablet.client.get("/kiosk/shell.json").json
    assert {f"/kiosk/sign/{code}" for code in available_locales()} <= set(shell["pages"])
    correct_the_text(app, shown_text_version(swedish))
    assert tablet.client.get("/kiosk/shell.json").json["version"] != shell["version"]
    assert "<p>B</p>" in tablet.client.get("/kiosk/sign/sv").get_data(as_text=True)


STORAGE_RE = re.compile(r'<section class="tablet-storage"[^>]*>(.*?)</section>', re.S)


def test_the_privacy_notice_says_what_the_tablet_keeps_on_the_web_and_the_tablet(
    app, make_initiative
):
    """The notice, on /privacy and on the tablet (its screen and over the form), says what
    the tablet itself keeps: the device cookie, and signatures queued offline, sealed so
    that only the server reads them, until the server has them or KIOSK_QUEUE_MAX_DAYS
    have passed; the next resident sees only how many wait."""
    make_initiative()
    tablet = enrolled_tablet(app)
    web = app.test_client()
    swedish = None
    for code in available_locales():
        web.set_cookie("lang", code)
        [public] = STORAGE_RE.findall(web.get("/privacy").get_data(as_text=True))
        [screen] = STORAGE_RE.findall(
            tablet.client.get(f"/kiosk/privacy/{code}").get_data(as_text=True)
        )
        [over_form] = STORAGE_RE.findall(
            tablet.client.get(f"/kiosk/sign/{code}").get_data(as_text=True)
        )
        assert public == screen == over_form, code
        if code == "sv":
            swedish = public
            for fact in (
                "cookie",
                f"{COOKIE_MAX_AGE // 86400} dagar",  # the cookie's lifetime in kiosk_device
                "krypteras först med en nyckel som bara vår server kan öppna",
                f"senast när den har väntat i {app.config['KIOSK_QUEUE_MAX_DAYS']} dagar",
                "raderar vi nyckeln",
                "så fort vi har tagit emot den",
                "volontären raderar den",
                "bara hur många underskrifter som väntar",
            ):
                assert fact in public, fact
        else:
            assert public != swedish, code  # translated, not the Swedish text
            assert f"{COOKIE_MAX_AGE // 86400}" in public, code
            assert f"{app.config['KIOSK_QUEUE_MAX_DAYS']}" in public, code


# --- the command line ------------------------------------------------------------------------


def test_cli_creates_lists_and_revokes_kiosks(app, make_initiative, tmp_path):
    make_initiative()
    runner = app.test_cli_runner()
    svg = tmp_path / "enrol.svg"
    created = runner.invoke(
        args=[
            "kiosk",
            "create",
            "--initiative",
            "amiralsgatan",
            "--name",
            "Stand 1",
            "--svg",
            str(svg),
        ]  # fmt: skip
    )
    assert created.exit_code == 0, created.output
    code = re.search(r"Enrolment code: ([A-Z0-9]{4}-[A-Z0-9]{4})", created.output).group(1)
    assert f"http://localhost/kiosk/enrol/{code.replace('-', '')}" in created.output
    assert "█" in created.output  # the QR code in the terminal
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()

    duplicate = runner.invoke(args=["kiosk", "create", "--initiative", "amiralsgatan",
                                    "--name", "Stand 1"])  # fmt: skip
    assert duplicate.exit_code != 0 and "exists" in duplicate.output
    unknown = runner.invoke(args=["kiosk", "create", "--initiative", "nope", "--name", "S2"])
    assert unknown.exit_code != 0 and "nope" in unknown.output

    listed = runner.invoke(args=["kiosk", "list"])
    assert "Stand 1\twaiting\tamiralsgatan" in listed.output
    enrolled_tablet(app, code)
    assert "Stand 1\tenrolled" in runner.invoke(args=["kiosk", "list"]).output

    new_code = runner.invoke(args=["kiosk", "code", "Stand 1", "--no-qr"])
    assert new_code.exit_code == 0 and "Enrolment code:" in new_code.output
    assert runner.invoke(args=["kiosk", "revoke", "Stand 1"]).exit_code == 0
    assert runner.invoke(args=["kiosk", "list"]).output.strip() == "No kiosks."
    assert "Stand 1\trevoked" in runner.invoke(args=["kiosk", "list", "--all"]).output
    missing = runner.invoke(args=["kiosk", "revoke", "Stand 1"])
    assert missing.exit_code != 0 and "No active kiosk" in missing.output
    # The name is free again for a new tablet.
    again = runner.invoke(args=["kiosk", "create", "--initiative", "amiralsgatan",
                                "--name", "Stand 1", "--no-qr"])  # fmt: skip
    assert again.exit_code == 0, again.output


def test_cli_refuses_an_svg_path_it_cannot_write_before_creating_anything(
    app, make_initiative, tmp_path
):
    """The kiosk used to be created and committed first, then the SVG failed with a
    traceback; running the command again said the name was taken."""
    make_initiative()
    runner = app.test_cli_runner()
    svg = tmp_path / "no-such-folder" / "enrol.svg"
    args = ["kiosk", "create", "--initiative", "amiralsgatan", "--name", "Stand 1"]
    refused = runner.invoke(args=[*args, "--svg", str(svg)])
    assert refused.exit_code == 2, refused.output
    assert "--svg" in refused.output and "no-such-folder" in refused.output
    assert "Enrolment code" not in refused.output
    assert runner.invoke(args=["kiosk", "list"]).output.strip() == "No kiosks."
    assert runner.invoke(args=[*args, "--no-qr"]).exit_code == 0


def test_cli_create_that_lost_the_race_for_a_name_says_so_without_a_traceback(
    app, make_initiative, monkeypatch
):
    """Another ``kiosk create`` with the same name committed after this one checked the
    name (on PostgreSQL they truly overlap: test_concurrency_initiatives): the database's
    unique index refuses the second, and the terminal says why, exiting non-zero."""
    from initiatives import kiosks

    make_initiative()
    runner = app.test_cli_runner()
    args = ["kiosk", "create", "--initiative", "amiralsgatan", "--name", "Stand 1", "--no-qr"]
    assert runner.invoke(args=args).exit_code == 0
    monkeypatch.setattr(kiosks, "by_name", lambda name: None)  # read before that commit
    lost = runner.invoke(args=args)
    assert lost.exit_code == 1 and isinstance(lost.exception, SystemExit), lost.exception
    assert "A kiosk called 'Stand 1' exists; revoke it or pick a name." in lost.output
    assert "Enrolment code" not in lost.output
    monkeypatch.undo()
    assert runner.invoke(args=["kiosk", "list"]).output.count("Stand 1") == 1


def test_an_enrolled_tablet_keeps_working_through_a_secret_key_rotation(app, make_initiative):
    """SECRET_KEY moves to SECRET_KEY_FALLBACKS: the tablet's cookie, the token in the
    page open on it and a code issued just before all still work."""
    make_initiative()
    tablet = enrolled_tablet(app)
    code = new_kiosk(app, name="Stand 2")
    old_key = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "a-new-key-for-the-rotation-test-" + "x" * 16
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    try:
        response = tablet.send(email="after-rotation@example.org")
        assert response.status_code == 200, response.json
        assert enrolled_tablet(app, code)  # the code made under the old key
    finally:
        app.config["SECRET_KEY"] = old_key
        app.config["SECRET_KEY_FALLBACKS"] = []


def test_a_tablet_signature_records_the_text_the_tablet_showed(app, make_initiative):
    """The tablet was offline while an organiser corrected the text: the signatures it
    queued name the text it showed, as the web form's do."""

    make_initiative()
    tablet = enrolled_tablet(app)
    page = tablet.client.get("/kiosk/sign/sv").get_data(as_text=True)
    shown = shown_text_version(page)
    corrected = correct_the_text(app, shown)
    assert tablet.send(email="queued@example.org", text_version=shown).status_code == 200
    assert tablet.send(email="later@example.org").status_code == 200  # an older tablet script
    assert [s.text_hash for s in kiosk_rows(app)] == [shown, corrected]


# --- a signature taken before the end, delivered after it ----------------------------------


def taken_before_the_end(
    app: Flask, tablet: Tablet, *, ended_hours_ago: float, signed_hours_ago: float, **state: Any
) -> dict[str, Any]:
    """The kiosk was created and its tablet enrolled days ago; the collection ended
    ``ended_hours_ago`` (the period's end, or ``closed_at`` in ``state``); a submission
    signed ``signed_hours_ago`` by the tablet's clock."""
    now = clock.utcnow()
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        kiosk.created_at = kiosk.enrolled_at = now - timedelta(days=5)
        initiative = db.session.scalars(sa.select(Initiative)).one()
        initiative.opens_at = now - timedelta(days=30)
        initiative.closes_at = now - timedelta(hours=ended_hours_ago)
        for name, value in state.items():
            setattr(initiative, name, value)
        db.session.commit()
    signed_at = now - timedelta(hours=signed_hours_ago)
    return submission(signed_at=signed_at.isoformat().replace("+00:00", "Z"))


def test_a_signature_taken_before_the_period_ended_and_sent_late_is_accepted_and_confirms(
    app, client, make_initiative, deliver, smtp
):
    """Signed at the stand an hour before the period ended, queued offline, delivered the
    next day: the resident was told it was saved, so it is stored (pending, confirmed from
    the email as always) and the link counts it; the audit log says it came late."""
    make_initiative()
    tablet = enrolled_tablet(app)
    data = taken_before_the_end(app, tablet, ended_hours_ago=20, signed_hours_ago=21)
    response = tablet.client.post(
        "/kiosk/api/submissions", data=data, headers={"X-Kiosk-Token": tablet.token}
    )
    assert (response.status_code, response.json["status"]) == (200, "received")
    [row] = kiosk_rows(app)
    assert row.state == "pending" and row.client_uuid == data["client_uuid"]
    kiosk_id = the_kiosk(app).id
    with app.app_context():
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "kiosk.signature_late")
        ).all()
        assert event.signature_id == row.id and event.details["kiosk"] == kiosk_id
        assert "Amira" not in str(event.details) and "amira" not in str(event.details)

    assert deliver().sent == 1
    [mail] = smtp.wait_for(1)
    confirm = next(u for u in links_in(mail) if "/confirm/" in u)
    token = csrf_token(client, link_path(confirm))
    assert client.post(link_path(confirm), data={"csrf_token": token}).status_code == 303
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        confirmed = db.session.scalar(
            sa.select(sa.func.count(Signature.id)).where(Signature.state == "confirmed")
        )
        assert initiative.confirmed_count == confirmed == 1


def test_a_signature_taken_before_an_organiser_closed_the_collection_is_accepted(
    app, make_initiative
):
    make_initiative()
    tablet = enrolled_tablet(app)
    closed_at = clock.utcnow() - timedelta(hours=1)
    data = taken_before_the_end(
        app,
        tablet,
        ended_hours_ago=-24 * 30,  # the period had a month left
        signed_hours_ago=2,
        state=InitiativeState.CLOSED,
        closed_at=closed_at,
    )
    response = tablet.client.post(
        "/kiosk/api/submissions", data=data, headers={"X-Kiosk-Token": tablet.token}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(kiosk_rows(app)) == 1


@pytest.mark.parametrize(
    ("ended", "signed", "state"),
    [
        (20, 19, {}),  # signed after the end
        (20, -1, {}),  # "signed" in an hour: the tablet's clock is ahead
        (73, 74, {}),  # delivered beyond KIOSK_LATE_HOURS (72)
        (20, 21, {"state": InitiativeState.SUBMITTED}),  # the list is handed in
        (20, 21, {"state": InitiativeState.WITHDRAWN}),
        (20, 24 * 6, {}),  # "signed" before the kiosk was created: its clock is wrong
    ],
)
def test_late_signatures_the_collection_can_no_longer_take_are_refused(
    app, make_initiative, ended, signed, state
):
    make_initiative()
    tablet = enrolled_tablet(app)
    data = taken_before_the_end(
        app, tablet, ended_hours_ago=ended, signed_hours_ago=signed, **state
    )
    response = tablet.client.post(
        "/kiosk/api/submissions", data=data, headers={"X-Kiosk-Token": tablet.token}
    )
    assert (response.status_code, response.json["status"]) == (409, "closed")
    assert kiosk_rows(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(KioskReceipt.client_uuid))) == 0


def test_a_late_signature_is_accepted_after_the_tablet_was_enrolled_again(app, make_initiative):
    """Signed at the stand before the end and queued offline; the tablet was then bound
    again (a new code, after the organiser unbound it), which keeps the queue. The
    signature was taken by this kiosk in time: the new binding does not make it late."""
    make_initiative()
    tablet = enrolled_tablet(app)
    data = taken_before_the_end(app, tablet, ended_hours_ago=20, signed_hours_ago=21)
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        kiosks.unenrol(kiosk, actor="test")
        code = kiosks.issue_code(kiosk, actor="test")
        db.session.commit()
    assert enrol(tablet.client, code).status_code == 303
    again = TOKEN_RE.search(tablet.client.get("/kiosk").get_data(as_text=True)).group(1)
    response = tablet.client.post(
        "/kiosk/api/submissions", data=data, headers={"X-Kiosk-Token": again}
    )
    assert (response.status_code, response.json["status"]) == (200, "received")
    assert len(kiosk_rows(app)) == 1
    # The admin still shows when the tablet was bound this time.
    assert the_kiosk(app).enrolled_at > clock.utcnow() - timedelta(minutes=5)


def test_a_late_signature_without_a_device_time_is_refused(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    data = taken_before_the_end(app, tablet, ended_hours_ago=20, signed_hours_ago=21)
    for signed_at in (None, "not a time"):
        data["signed_at"] = signed_at
        response = tablet.client.post(
            "/kiosk/api/submissions",
            data={k: v for k, v in data.items() if v is not None},
            headers={"X-Kiosk-Token": tablet.token},
        )
        assert response.status_code == 409
    assert kiosk_rows(app) == []


def test_the_clerks_list_dates_a_late_kiosk_signature_the_day_the_tablet_took_it(
    app, make_initiative, tmp_path
):
    """The list handed to the city says the day each signature was made: a late one was
    dated the day it reached the server, after the collection closed."""
    make_initiative()
    tablet = enrolled_tablet(app)
    closed_at = clock.utcnow() - timedelta(hours=30)
    data = taken_before_the_end(
        app,
        tablet,
        ended_hours_ago=-24 * 30,
        signed_hours_ago=31,
        state=InitiativeState.CLOSED,
        closed_at=closed_at,
    )
    response = tablet.client.post(
        "/kiosk/api/submissions", data=data, headers={"X-Kiosk-Token": tablet.token}
    )
    assert response.status_code == 200
    with app.app_context():
        row = db.session.scalars(sa.select(Signature)).one()
        assert signature_states.confirm(row) == signature_states.ConfirmOutcome.CONFIRMED
        db.session.commit()
        signed_on = local_date(row.device_signed_at).isoformat()
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(next(tmp_path.glob("*.zip")))
    csv_text = archive.read("underskrifter.csv").decode("utf-8-sig")
    [listed] = list(csv.reader(io.StringIO(csv_text), delimiter=";"))[1:]
    period = json.loads(archive.read("manifest.json"))["initiative"]["collection_period"]
    assert listed[3] == signed_on and period["from"] <= listed[3] <= period["to"]


# --- "Menade du …?" at the stand --------------------------------------------------------


def test_without_the_script_a_likely_typo_is_asked_about_once_in_the_signers_language(
    app, make_initiative
):
    """The no-script form: the sign screen again (200, nothing stored, what was typed
    kept), the question with the address left to right in Arabic; then the suggestion's
    button signs with the corrected address, the form's button with the typed one."""
    from .test_i18n import escape_html, translated  # here: test_i18n imports this module

    make_initiative()
    tablet = enrolled_tablet(app)
    data = submission(client_uuid=None, email="amira@gmial.com")
    data["csrf_token"] = csrf_token(tablet.client, "/kiosk/sign/ar")
    asked = tablet.client.post("/kiosk/sign/ar", data=data)
    assert asked.status_code == 200
    html = asked.get_data(as_text=True)
    question = escape_html(translated("ar", "Menade du %(address)s?"))
    assert question % {"address": '<span dir="ltr">amira@gmail.com</span>'} in html
    assert 'name="email_suggested" value="amira@gmail.com">' in html
    assert 'name="email_asked" type="hidden" value="amira@gmial.com"' in html
    assert 'value="Amira Hassan"' in html and 'class="error-summary"' not in html
    assert kiosk_rows(app) == []

    taken = tablet.client.post(
        "/kiosk/sign/ar",
        data={**data, "email_asked": "amira@gmial.com", "email_suggested": "amira@gmail.com"},
    )
    assert taken.status_code == 303 and taken.headers["Location"] == "/kiosk/thanks/ar"
    typed = "hodan@hotmail.con"
    kept = tablet.client.post("/kiosk/sign/sv", data={**data, "email": typed, "email_asked": typed})
    assert kept.status_code == 303
    with app.app_context():
        box = crypto()
        assert [box.decrypt(row.email_enc) for row in kiosk_rows(app)] == [
            "amira@gmail.com",
            "hodan@hotmail.con",
        ]


def test_the_tablets_form_carries_the_providers_and_look_alikes_for_its_offline_check(
    app, make_initiative
):
    from initiatives import email_typos

    from .test_i18n import escape_html, translated

    make_initiative()
    tablet = enrolled_tablet(app)
    html = tablet.client.get("/kiosk/sign/so").get_data(as_text=True)
    email_input = re.search(r'<input[^>]*id="email"[^>]*>', html).group(0)
    assert f'data-suggest-providers="{" ".join(email_typos.PROVIDERS)}"' in email_input
    assert f'data-suggest-lookalikes="{" ".join(email_typos.LOOKALIKES)}"' in email_input
    assert f'data-suggest-name-edits-from="{email_typos.NAME_EDITS_FROM}"' in email_input
    question = escape_html(translated("so", "Menade du %(address)s?") % {"address": "{address}"})
    assert f'data-suggest-question="{question}"' in email_input
    # The question's place is on the screen, hidden until the script fills it in.
    assert re.search(r'<div class="suggestion"[^>]*data-suggestion[^>]*hidden', html)


def test_the_script_s_sends_are_not_asked_again(app, make_initiative):
    """The script asks before it sends or queues; a queued entry cannot be asked, so
    the API takes the address as it comes."""
    make_initiative()
    tablet = enrolled_tablet(app)
    assert tablet.send(email="amira@gmial.com").status_code == 200
    [row] = kiosk_rows(app)
    with app.app_context():
        assert crypto().decrypt(row.email_enc) == "amira@gmial.com"


def test_the_tablets_build_stamp_follows_contents_not_file_times(tmp_path):
    """The stamp that makes tablets fetch their offline screens again changes with what
    the screens are built from, the templates they include among it, and not with a
    file's time: two instances of one release behind one proxy give the same stamp."""
    files = {
        "templates/kiosk/sign.html": "{% include 'signing/_text.html' %}",
        "templates/signing/_text.html": "<h1>{{ text.title }}</h1>",
        "templates/macros/forms.html": "{% macro field() %}{% endmacro %}",
        "static/js/kiosk.js": "'use strict';",
        "initiatives/translations/ar/LC_MESSAGES/messages.po": 'msgid "Ja"\nmsgstr "نعم"\n',
        "templates/admin/dashboard.html": "not on a tablet",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    stamp = kiosk_module.sources_digest(tmp_path)
    for name in files:  # another machine's copy: new times, same contents
        os.utime(tmp_path / name, (1, 1))
    assert kiosk_module.sources_digest(tmp_path) == stamp
    (tmp_path / "templates/admin/dashboard.html").write_text("changed", encoding="utf-8")
    assert kiosk_module.sources_digest(tmp_path) == stamp
    for name in list(files)[:5]:
        before = kiosk_module.sources_digest(tmp_path)
        (tmp_path / name).write_text(files[name] + " ", encoding="utf-8")
        assert kiosk_module.sources_digest(tmp_path) != before, name
