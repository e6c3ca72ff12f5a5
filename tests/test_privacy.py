"""The privacy notice and "what do you store about me?" (a report sent by email)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace

import sqlalchemy as sa

from initiatives import subject_access
from initiatives.extensions import db
from initiatives.models import AuditEvent, OutboxMessage, Signature, SignatureState

from .conftest import csrf_token, link_path, links_in


def ask(client, email: str, **extra: str):
    token = csrf_token(client, "/privacy/request")
    return client.post("/privacy/request", data={"csrf_token": token, "email": email, **extra})


def queued(app, kind: str = "data_report") -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == kind)
        )


def test_the_notice_says_who_why_what_how_long_and_what_you_can_do(make_app):
    app = make_app(
        ORGANISATION_NAME="Rosengård Samverkan",
        ORGANISATION_EMAIL="dataskydd@example.org",
        ANONYMISE_AFTER_DAYS=120,
        UNCONFIRMED_RETENTION_DAYS=21,
        CLIENT_HASH_RETENTION_DAYS=30,
        OUTBOX_RETENTION_DAYS=7,
        CONFIRM_DAYS=5,
    )
    response = app.test_client().get("/privacy")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for expected in [
        "Personuppgiftsansvarig är Rosengård Samverkan",
        "dataskydd@example.org",
        "artikel 9.2 a",
        "uttryckliga samtycke",
        "Tas bort 120 dagar efter att nämnden har svarat",
        "Raderas helt 21 dagar efter att de gjordes",
        "gäller i 5 dagar",
        "Raderas efter 30 dagar",
        "raderas 7 dagar efter att det har skickats",
        "allmän handling",
        "offentlighetsprincipen",
        "Integritetsskyddsmyndigheten (IMY)",
        'href="/privacy/request"',
        "personnummer",
        # Consent can be withdrawn at any time (GDPR Art. 7(3)), not only until submission.
        "du kan återkalla det när som helst",
        "kan listan som Malmö stad har fått inte ändras",
        "Underskriften finns kvar i antalet, utan koppling till dig",
        # Processors are named as such, not hidden behind "nobody but the committee".
        "får inte använda dem till något eget",
    ]:
        assert expected in html, expected
    assert "fram till att initiativet lämnas in, med länken" not in html


def test_the_sign_form_links_the_notice_next_to_the_consent_box(client, make_initiative):
    make_initiative()
    html = client.get("/i/amiralsgatan").get_data(as_text=True)
    consent = html.index('name="consent"')
    link = html.index('href="/privacy"', consent)
    assert html.index("<button", consent) > link  # between the consent box and the button


def test_a_signer_gets_everything_held_for_the_address_with_working_withdraw_links(
    app, client, make_initiative, sign, deliver, smtp
):
    make_initiative()
    make_initiative(
        "parken",
        texts={"sv": {"title": "En park vid Ramels väg", "summary": "S", "body": "B"}},
    )
    sign("amiralsgatan", name="Amira Hassan", email="amira@example.org", postcode="21214")
    sign("parken", name="Amira H.", email="AMIRA@example.org ", postcode="", src="poster")
    sign("parken", name="Someone Else", email="other@example.org")
    deliver()
    smtp.clear()

    response = ask(client, "amira@example.org")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/privacy/request/sent")
    assert "Kolla din e-post" in client.get("/privacy/request/sent").get_data(as_text=True)
    deliver()
    [mail] = smtp.wait_for(1)
    assert str(mail["To"]) == "amira@example.org"
    assert mail["Subject"] == "Det här sparar vi om din e-postadress"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert "Tryggare Amiralsgatan" in body and "En park vid Ramels väg" in body
        assert "Amira Hassan" in body and "Amira H." in body
        assert "212 14" in body and "märkt poster" in body
        assert "Someone Else" not in body and "other@example.org" not in body
        assert "väntar på att du bekräftar den" in body
        assert "Integritetsskyddsmyndigheten" in body
    withdraw_links = [u for u in links_in(mail) if "/withdraw/" in u]
    assert len(withdraw_links) == 2

    # The link in the report withdraws, like the one in the thank-you mail.
    path = link_path(withdraw_links[0])
    page = client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    assert client.post(path, data={"csrf_token": token}).status_code == 303
    with app.app_context():
        states = sorted(db.session.scalars(sa.select(Signature.state)).all())
        assert states.count("withdrawn") == 1


def test_the_same_answer_whether_or_not_the_address_is_known(
    app, client, make_initiative, sign, deliver, smtp
):
    make_initiative()
    sign(email="known@example.org")
    deliver()
    smtp.clear()
    known = ask(client, "known@example.org")
    unknown = ask(client, "nobody@example.org")
    assert (known.status_code, known.headers["Location"]) == (
        unknown.status_code,
        unknown.headers["Location"],
    )
    assert known.get_data() == unknown.get_data()
    deliver()
    mails = {str(m["To"]): m for m in smtp.wait_for(2)}
    nothing = mails["nobody@example.org"].get_body(preferencelist=("plain",)).get_content()
    assert "Vi har inga underskrifter kopplade till den här adressen" in nothing
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "privacy.data_request")
        ).all()
        assert sorted(e.details["signatures"] for e in events) == [0, 1]
        assert "@" not in str([e.details for e in events])


def test_the_report_comes_in_the_language_of_the_page(app, client, make_initiative, deliver, smtp):
    client.get("/lang/ar")
    assert ask(client, "amira@example.org").status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    assert mail["Content-Language"] == "ar"
    assert 'dir="rtl"' in mail.get_body(preferencelist=("html",)).get_content()


def test_reports_are_capped_per_address_per_day(make_app, make_initiative):
    app = make_app(DATA_REQUESTS_PER_ADDRESS_PER_DAY=2)
    client = app.test_client()
    for _ in range(4):
        assert ask(client, "amira@example.org").status_code == 303
    assert queued(app) == 2
    # The page after a capped request sends nothing, so it must not promise a mail.
    sent = client.get("/privacy/request/sent").get_data(as_text=True)
    assert "och inte redan har fått för många meddelanden från oss" in sent
    assert "Vi skickar högst 2 sådana meddelanden per dygn till samma adress" in sent
    assert ask(client, "other@example.org").status_code == 303
    assert queued(app) == 3


def test_the_daily_cap_per_address_holds_across_initiatives(make_app, make_initiative, sign):
    app = make_app(MAILS_PER_ADDRESS_PER_DAY_TOTAL=2)
    client = app.test_client()
    for slug in ("one", "two", "three"):
        make_initiative(slug)
        assert sign(slug, who=client, email="amira@example.org").status_code == 303
    # Three signatures are stored, but only two links went out today ...
    assert queued(app, "confirm") == 2
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) == 3
    # ... and a data report would be a third mail.
    assert ask(client, "amira@example.org").status_code == 303
    assert queued(app) == 0


def test_the_honeypot_and_bad_addresses_store_nothing(app, client):
    assert ask(client, "amira@example.org", website="http://spam").status_code == 303
    bad = ask(client, "not-an-address")
    assert bad.status_code == 400
    assert "Skriv en giltig e-postadress" in bad.get_data(as_text=True)
    assert 'class="error-summary"' in bad.get_data(as_text=True)
    assert ask(client, "").status_code == 400
    assert queued(app) == 0


def test_report_times_are_malmo_time_and_the_parts_of_a_line_are_listed_in_swedish(
    app, client, make_initiative, sign, deliver, smtp, monkeypatch
):
    make_initiative()
    sign(email="amira@example.org", src="poster")
    deliver()
    smtp.clear()
    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
        # 22:30 UTC on 30 June is 00:30 on 1 July in Malmö (summer time, UTC+2).
        signature.created_at = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)
        db.session.commit()
    # The report is asked for at 23:30 UTC on 15 January: 00:30 on the 16th in Malmö.
    asked_at = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    monkeypatch.setattr(subject_access, "clock", SimpleNamespace(utcnow=lambda: asked_at))
    assert ask(client, "amira@example.org").status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert "Här är allt vi hade sparat den 16 januari 2026 klockan 00:30." in body
        assert "1 juli 2026 00:30:00, på webben, på svenska, via länken märkt poster" in body
        assert "15 januari" not in body and "30 juni" not in body


def test_a_signature_withdrawn_while_held_for_review_is_not_offered_for_withdrawal_again(
    app, make_initiative
):
    """Its signer withdrew it while it was held (it stays invalidated, with the date of
    the withdrawal): the report shows that date, and no link that would only answer
    "this signature cannot be withdrawn"."""
    from initiatives import abuse, signature_states

    from .privacy_support import BOT, Spec, add_signatures

    make_initiative()
    [held] = add_signatures(app, "amiralsgatan", [Spec("amira@example.org", client_hash=BOT)])
    with app.app_context():
        initiative_id = db.session.get(Signature, held).initiative_id
        abuse.invalidate(
            abuse.Selection(initiative_id, client_hash=BOT), reason="automated", actor="x"
        )
        signature = db.session.get(Signature, held)
        assert signature_states.withdraw(signature) == signature_states.WithdrawOutcome.WITHDRAWN
        db.session.commit()
        [entry] = subject_access.report_for("amira@example.org", "sv")["entries"]
    assert entry["state"] == "invalidated" and entry["withdrawn"]
    assert entry["withdraw_token"] == ""
    assert entry["removal"] == "withdrawn"
    # After the nightly run only the blind index is left: nothing more is to be removed.
    with app.app_context():
        from initiatives import retention

        retention.purge()
        db.session.commit()
        [entry] = subject_access.report_for("amira@example.org", "sv")["entries"]
    assert entry["name"] == "" and entry["removal"] == "done"


def test_a_withdrawn_signature_is_reported_as_going_within_a_day(
    app, client, make_initiative, deliver, smtp
):
    """A signer who withdrew and asks what is still held was told her name and address
    stay until 90 days after the committee's answer; they go at the next nightly run."""
    from .privacy_support import Spec, add_signatures

    make_initiative()
    add_signatures(
        app,
        "amiralsgatan",
        [Spec("amira@example.org", "Amira Hassan", state=SignatureState.WITHDRAWN)],
    )
    assert ask(client, "amira@example.org").status_code == 303
    deliver()
    mail = [m for m in smtp.wait_for(4) if m["Subject"].startswith("Det här sparar vi")][0]
    for part in ("plain", "html"):
        body = mail.get_body(preferencelist=(part,)).get_content()
        # The signature's own lines, before the general periods at the end.
        entry = body.split("Så länge sparar vi uppgifterna:")[0]
        assert "Amira Hassan" in entry and "återkallad, den räknas inte" in entry
        assert "Återkallade underskrifter avidentifieras inom ett dygn." in entry
        assert "efter att nämnden har svarat" not in entry
