"""Signatures in the admin: search, invalidate and restore, resend, withdraw on request."""

from __future__ import annotations

import re

import sqlalchemy as sa

from initiatives import moderation, signature_states
from initiatives.extensions import db
from initiatives.models import AuditEvent, Channel, Initiative, Signature, SignatureState

from .admin_helpers import logged_in, post_form
from .privacy_support import Spec, add_signatures, spread

BASE = "/admin/initiatives/amiralsgatan/signatures"
PENDING, KIOSK = SignatureState.PENDING, Channel.KIOSK


def _signature(app, **where) -> Signature:
    with app.app_context():
        query = sa.select(Signature)
        for key, value in where.items():
            query = query.where(getattr(Signature, key) == value)
        signature = db.session.scalars(query).one()
        db.session.expunge(signature)
        return signature


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        return initiative.confirmed_count, signature_states.confirmed_count(initiative.id)


def _erase(client, page: str):
    """The organiser erases on a written request received by email."""
    return post_form(
        client,
        page,
        f"{page}/erase",
        **{"erase-received_via": "email", "erase-received_on": "2026-01-02"},
    )


def _confirm_all(app) -> None:
    with app.app_context():
        for signature in db.session.scalars(sa.select(Signature)).all():
            signature_states.confirm(signature)
        db.session.commit()


def test_search_by_name_email_and_postcode(app, make_initiative, sign):
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    sign(name="Faadumo Cabdi", email="faadumo@example.org", postcode="213 63")
    client = logged_in(app)

    def names(q: str) -> str:
        return client.get(BASE, query_string={"q": q}).get_data(as_text=True)

    assert "Amira Hassan" in names("amira") and "Faadumo" not in names("amira")
    by_email = names("FAADUMO@example.org ")
    assert "Faadumo Cabdi" in by_email and "Amira Hassan" not in by_email
    by_postcode = names("21363")
    assert "Faadumo Cabdi" in by_postcode and "Amira Hassan" not in by_postcode
    in_arabic_digits = names("٢١٣ ٦٣")  # as a resident wrote it in a message
    assert "Faadumo Cabdi" in in_arabic_digits and "Amira Hassan" not in in_arabic_digits
    assert "Inga träffar" in names("Zlatan")
    pending = client.get(BASE, query_string={"state": "pending"}).get_data(as_text=True)
    assert "Amira Hassan" in pending and "Faadumo Cabdi" in pending


def test_invalidate_and_restore_keep_the_count_exact(app, make_initiative, sign):
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org")
    _confirm_all(app)
    assert _counts(app) == (1, 1)
    signature = _signature(app)
    page = f"{BASE}/{signature.public_id}"
    client = logged_in(app, role="organiser")

    no_reason = post_form(client, page, f"{page}/invalidate", reason="", note="")
    assert no_reason.status_code == 400
    done = post_form(
        client, page, f"{page}/invalidate", reason="false_identity", note="Påhittat namn"
    )
    assert done.status_code == 302
    invalid = _signature(app)
    assert invalid.state == SignatureState.INVALIDATED
    assert invalid.invalidation_reason == "false_identity"
    assert invalid.invalidation_note == "Påhittat namn"
    assert _counts(app) == (0, 0)

    assert post_form(client, page, f"{page}/restore").status_code == 302
    assert _signature(app).state == SignatureState.CONFIRMED
    assert _counts(app) == (1, 1)
    assert post_form(client, page, f"{page}/restore").status_code == 409  # nothing to restore

    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.signature_id == signature.id)
        ).all()
        assert [e.action for e in events] == ["signature.invalidated", "signature.restored"]
        assert all(e.actor == "organiser@example.org" for e in events)
        # The audit log names the signature, never the person.
        assert "Amira" not in str([e.details for e in events])


def test_resend_confirmation_respects_the_mail_cap(make_app, make_initiative, sign, deliver, smtp):
    app = make_app(MAILS_PER_ADDRESS_PER_DAY=2)
    from .conftest import create_initiative

    create_initiative(app)
    client_public = app.test_client()
    from .conftest import csrf_token, sign_form

    data = sign_form(email="amira@example.org")
    data["csrf_token"] = csrf_token(client_public, "/i/amiralsgatan")
    client_public.post("/i/amiralsgatan/sign", data=data)
    signature = _signature(app)
    page = f"{BASE}/{signature.public_id}"
    client = logged_in(app)
    assert post_form(client, page, f"{page}/resend").status_code == 302
    with app.app_context():
        from initiatives import mail, outbox

        outbox.deliver_due(app, mail.compose)
    assert len(smtp.wait_for(2)) == 2
    capped = post_form(client, page, f"{page}/resend")
    assert capped.status_code == 302
    assert "gränsen för mejl" in client.get(page).get_data(as_text=True)


def test_a_resent_link_after_a_corrected_name_confirms_the_corrected_name(
    app, make_initiative, sign, deliver, smtp
):
    """The organiser's resend carries the signature's details version: after Amira
    corrected her name, the link the organiser sends her works (an older one would not)."""
    from .conftest import csrf_token, link_path, links_in

    make_initiative()
    sign(email="amira@example.org", name="Amira Hasan")
    sign(email="amira@example.org", name="Amira Hassan")
    signature = _signature(app)
    assert signature.details_version == 1
    page = f"{BASE}/{signature.public_id}"
    assert post_form(logged_in(app), page, f"{page}/resend").status_code == 302
    deliver()
    resent = smtp.wait_for(3)[2]
    assert "Hej Amira Hassan," in resent.get_body(preferencelist=("plain",)).get_content()
    link = link_path(next(u for u in links_in(resent) if "/confirm/" in u))
    signer = app.test_client()
    assert signer.post(link, data={"csrf_token": csrf_token(signer, link)}).status_code == 303
    assert _signature(app).state == SignatureState.CONFIRMED


def test_withdraw_on_written_request(app, make_initiative, sign):
    make_initiative()
    sign(email="amira@example.org")
    _confirm_all(app)
    signature = _signature(app)
    page = f"{BASE}/{signature.public_id}"
    client = logged_in(app)
    future = post_form(
        client, page, f"{page}/withdraw", received_via="letter", received_on="2999-01-01"
    )
    assert future.status_code == 409
    ok = post_form(
        client, page, f"{page}/withdraw", received_via="letter", received_on="2026-01-02"
    )
    assert ok.status_code == 302
    assert _signature(app).state == SignatureState.WITHDRAWN
    assert _counts(app) == (0, 0)
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "signature.withdrawn_on_request")
        ).one()
        assert event.details == {"received_via": "letter", "received_on": "2026-01-02"}


def test_a_written_request_withdraws_a_signature_held_for_review(app, make_initiative, sign):
    """The signer's wish decides: restoring the review later must not count it again.
    While held it stays invalidated (its address stays taken, so signing again cannot
    get round the review), marked withdrawn."""
    make_initiative()
    sign(email="amira@example.org")
    _confirm_all(app)
    signature = _signature(app)
    page = f"{BASE}/{signature.public_id}"
    client = logged_in(app)
    held = post_form(client, page, f"{page}/invalidate", reason="other", note="")
    assert held.status_code == 302 and _signature(app).state == SignatureState.INVALIDATED
    ok = post_form(
        client, page, f"{page}/withdraw", received_via="letter", received_on="2026-01-02"
    )
    assert ok.status_code == 302
    held = _signature(app)
    assert held.state == SignatureState.INVALIDATED and held.withdrawn_at is not None
    assert sign(email="amira@example.org").status_code == 303  # the same page as ever ...
    assert [s.state for s in _all(app)] == [SignatureState.INVALIDATED]  # ... and no new row
    restored = post_form(client, page, f"{page}/restore")
    assert restored.status_code == 302
    assert _signature(app).state == SignatureState.WITHDRAWN
    assert _counts(app) == (0, 0)


def _all(app) -> list[Signature]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Signature).order_by(Signature.id)))


def test_no_changes_after_submission(app, make_initiative, sign):
    make_initiative()
    sign()
    _confirm_all(app)
    with app.app_context():
        db.session.scalars(sa.select(Initiative)).one().state = "submitted"
        db.session.commit()
    signature = _signature(app)
    page = f"{BASE}/{signature.public_id}"
    client = logged_in(app)
    refused = post_form(client, page, f"{page}/invalidate", reason="other", note="")
    assert refused.status_code == 409
    assert _signature(app).state == SignatureState.CONFIRMED and _counts(app) == (1, 1)
    assert client.get(f"{BASE}/{'f' * 32}").status_code == 404


def test_erase_personal_data_on_written_request_even_after_submission(
    app, make_initiative, sign, deliver
):
    """Consent withdrawn after the list was handed in: the data goes, the count stays."""
    from initiatives.models import OutboxMessage

    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    sign(name="Faadumo Cabdi", email="faadumo@example.org", postcode="213 63")
    _confirm_all(app)
    deliver()
    with app.app_context():
        db.session.scalars(sa.select(Initiative)).one().state = "submitted"
        db.session.commit()
    amira = _signature(app, postcode_area="212")
    page = f"{BASE}/{amira.public_id}"
    client = logged_in(app)
    assert "Radera personuppgifterna" in client.get(page).get_data(as_text=True)

    refused = post_form(
        client, page, f"{page}/erase", **{"erase-received_via": "", "erase-received_on": ""}
    )
    assert refused.status_code == 400
    assert _signature(app, id=amira.id).name_enc is not None

    done = _erase(client, page)
    assert done.status_code == 302
    erased = _signature(app, id=amira.id)
    assert erased.state == SignatureState.CONFIRMED and erased.anonymised_at is not None
    assert (erased.name_enc, erased.email_enc, erased.postcode_enc, erased.email_index) == (
        None,
        None,
        None,
        None,
    )
    assert _counts(app) == (2, 2)
    with app.app_context():
        mails = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.signature_id == amira.id)
        ).all()
        # Mail not yet sent is gone (never "failed": the outbox alarm is for real
        # failures); sent mail keeps its row for the statistics, without a body.
        assert mails and all(m.status == "sent" and m.payload_enc is None for m in mails)
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "signature.erased_on_request")
        ).one()
        assert event.details == {
            "received_via": "email",
            "received_on": "2026-01-02",
            "withdrawn": False,
        }
    page_after = client.get(page).get_data(as_text=True)
    assert "Amira Hassan" not in page_after and "amira@example.org" not in page_after
    again = _erase(client, page)
    assert again.status_code in (400, 409)


def test_search_finds_newest_first_filters_and_says_when_it_cut(app, make_initiative):
    make_initiative()
    people = [
        Spec("amira@example.org", name="Amira Hassan", postcode="212 14"),
        Spec("amir@example.org", name="Amir Karimi", postcode="212 30", state=PENDING),
        Spec("faadumo@example.org", name="Faadumo Cabdi", postcode="213 63", channel=KIOSK),
        Spec("samira@example.org", name="Samira Ali", postcode=None),
        Spec("emina@example.org", name="Emina Hodžić", postcode="212 14", channel=KIOSK),
    ]
    ids = add_signatures(app, "amiralsgatan", people)
    spread(app, ids, minutes=5)  # the last one signed last

    def search(query: str, **options) -> tuple[list[str], bool]:
        with app.app_context():
            initiative = db.session.scalars(sa.select(Initiative)).one()
            found, cut = moderation.search(initiative, query, **options)
            return [f.name for f in found], cut

    assert search("amir") == (["Samira Ali", "Amir Karimi", "Amira Hassan"], False)
    assert search("AMIR", state="pending") == (["Amir Karimi"], False)
    assert search("amir", limit=2) == (["Samira Ali", "Amir Karimi"], True)
    assert search("amir", limit=3) == (["Samira Ali", "Amir Karimi", "Amira Hassan"], False)
    assert search("hodzic") == ([], False)  # the name as written, not an ASCII spelling
    assert search("Hodžić", channel="kiosk") == (["Emina Hodžić"], False)
    assert search("212") == (["Emina Hodžić", "Amir Karimi", "Amira Hassan"], False)
    assert search("21214") == (["Emina Hodžić", "Amira Hassan"], False)
    assert search(" Amira@Example.org ") == (["Amira Hassan"], False)
    assert search("", limit=4) == (
        ["Emina Hodžić", "Samira Ali", "Faadumo Cabdi", "Amir Karimi"],
        True,
    )
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        found, _cut = moderation.search(initiative, "faadumo")
    assert [(f.email, f.postcode) for f in found] == [("faadumo@example.org", "213 63")]


def test_erasing_an_unconfirmed_signature_withdraws_it_so_its_link_cannot_count_it(
    app, make_initiative, sign
):
    """The link is already in the signer's mail: after erasure it must not make a
    signature count that no longer names anyone."""
    from initiatives.tokens import Purpose, make_token

    from .conftest import csrf_token

    make_initiative()
    sign(email="amira@example.org")
    signature = _signature(app)
    with app.app_context():
        link = f"/confirm/{make_token(Purpose.CONFIRM, signature.public_id)}"
    page = f"{BASE}/{signature.public_id}"
    client = logged_in(app)
    done = _erase(client, page)
    assert done.status_code == 302
    erased = _signature(app, id=signature.id)
    assert erased.state == SignatureState.WITHDRAWN and erased.email_enc is None

    signer = app.test_client()
    assert signer.get(link).status_code == 410
    token = csrf_token(signer, "/i/amiralsgatan")
    pressed = signer.post(link, data={"csrf_token": token})
    assert pressed.status_code == 303 and signer.get(pressed.headers["Location"]).status_code == 410
    assert _signature(app, id=signature.id).state == SignatureState.WITHDRAWN
    assert _counts(app) == (0, 0)


def test_erasure_also_drops_a_data_report_waiting_to_go_to_that_address(app, make_initiative, sign):
    """The report lists the signature's name and postcode: queued to the address (not
    to a signature), it went out after the erasure and its body stayed for months."""
    from datetime import date

    from initiatives import subject_access
    from initiatives.models import OutboxMessage

    make_initiative()
    make_initiative("parklek")
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    sign("parklek", name="Amira Hassan", email="amira@example.org")
    with app.app_context():
        subject_access.request_report("amira@example.org", "sv")
        db.session.commit()
        signature = db.session.scalars(
            sa.select(Signature).join(Initiative).where(Initiative.slug == "amiralsgatan")
        ).one()
        erased_id = signature.id
        moderation.erase_on_request(
            signature, "admin", received_via="email", received_on=date(2026, 1, 2)
        )
        db.session.commit()
        mails = {(m.kind, m.signature_id): m for m in db.session.scalars(sa.select(OutboxMessage))}
    assert ("data_report", None) not in mails  # never sent: dropped
    with app.app_context():
        from initiatives import outbox_status

        assert outbox_status.queue_state().failed_last_day == 0  # nothing to alarm about
    assert ("confirm", erased_id) not in mails
    # Her other signature, and its link, are not part of this request.
    other = next(m for (kind, sid), m in mails.items() if kind == "confirm" and sid != erased_id)
    assert (other.status, other.payload_enc is not None) == ("pending", True)


def _held_erased_restored(signature_id: int) -> Signature:
    """Held for review, erased on a written request, then the review undone (committed
    at each step, as three requests would be)."""
    from datetime import date

    moderation.invalidate(db.session.get(Signature, signature_id), "admin", reason="other", note="")
    db.session.commit()
    moderation.erase_on_request(
        db.session.get(Signature, signature_id),
        "admin",
        received_via="email",
        received_on=date(2026, 1, 2),
    )
    db.session.commit()
    moderation.restore(db.session.get(Signature, signature_id), "admin")
    db.session.commit()
    return db.session.get(Signature, signature_id)


def test_an_erased_signature_held_for_review_never_counts_after_a_restore(app, make_initiative):
    """Pending when held for review, then erased: restoring the review leaves it
    withdrawn, and the link already in the signer's mail cannot confirm it."""

    make_initiative()
    [signature_id] = add_signatures(
        app, "amiralsgatan", [Spec("amira@example.org", state=SignatureState.PENDING)]
    )
    with app.app_context():
        row = _held_erased_restored(signature_id)
        assert row.state == SignatureState.WITHDRAWN and row.email_enc is None
        assert signature_states.confirm(row) == signature_states.ConfirmOutcome.NOT_CONFIRMABLE
        db.session.commit()
    assert _counts(app) == (0, 0)


def test_an_erased_signature_held_after_it_was_confirmed_counts_again_after_a_restore(
    app, make_initiative
):
    """Confirmed, held for review, erased on request, then the review is undone: it counts
    again, as an erased confirmed signature does, and as it would had the erasure come
    before the review.  Erasure is not a withdrawal."""

    make_initiative()
    [signature_id] = add_signatures(app, "amiralsgatan", [Spec("amira@example.org")])
    with app.app_context():
        row = _held_erased_restored(signature_id)
        assert row.state == SignatureState.CONFIRMED and row.email_enc is None
        assert row.withdrawn_at is None
    assert _counts(app) == (1, 1)


def test_the_page_of_a_held_signature_offers_the_written_withdrawal(app, make_initiative, sign):
    """A held signer's letter asking to withdraw reaches the organiser: the form is on the
    signature's page while it is held, and gone once the withdrawal is recorded."""
    make_initiative()
    sign(email="amira@example.org")
    _confirm_all(app)
    page = f"{BASE}/{_signature(app).public_id}"
    client = logged_in(app)
    assert post_form(client, page, f"{page}/invalidate", reason="other", note="").status_code == 302
    assert f'action="{page}/withdraw"' in client.get(page).get_data(as_text=True)
    ok = post_form(
        client, page, f"{page}/withdraw", received_via="letter", received_on="2026-01-02"
    )
    assert ok.status_code == 302
    assert f'action="{page}/withdraw"' not in client.get(page).get_data(as_text=True)


def test_a_signatures_page_names_its_state_and_channel_in_swedish(app, make_initiative, sign):
    """As the search list does: "bekräftad", "webb", not the stored "confirmed", "web"."""
    make_initiative()
    sign(email="amira@example.org")
    _confirm_all(app)
    page = logged_in(app).get(f"{BASE}/{_signature(app).public_id}").get_data(as_text=True)
    assert re.search(r'<span class="sig-state sig-confirmed">bekräftad</span>', page)
    assert "<dt>Kanal</dt><dd>webb</dd>" in page
    assert ">confirmed<" not in page and ">web<" not in page


def test_a_note_with_a_control_character_is_refused_with_a_message(app, make_initiative, sign):
    """A NUL pasted into an organiser's note: PostgreSQL refuses it in a text column, so
    the form must, with a message and nothing changed (it was a 500 there)."""
    make_initiative()
    sign(email="amira@example.org")
    _confirm_all(app)
    signature = _signature(app)
    page = f"{BASE}/{signature.public_id}"
    client = logged_in(app)
    invalidate = post_form(
        client, page, f"{page}/invalidate", reason="false_identity", note="Påhittat\x00namn"
    )
    assert invalidate.status_code == 400
    assert "tecken som inte är tillåtna" in invalidate.get_data(as_text=True)
    assert _signature(app).state == SignatureState.CONFIRMED
    assert _counts(app) == (1, 1)


def test_the_dashboards_invalidated_count_leads_to_the_signatures_it_counts(
    app, make_initiative, sign
):
    """A signature invalidated on its own page (or a paper row found a duplicate) is no
    event in the abuse review's history, which then says nothing was invalidated there: the
    dashboard's count links to the list of invalidated signatures, each with its reason."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org")
    _confirm_all(app)
    page = f"{BASE}/{_signature(app).public_id}"
    client = logged_in(app, role="organiser")
    done = post_form(client, page, f"{page}/invalidate", reason="false_identity", note="")
    assert done.status_code == 302

    dashboard = client.get("/admin/initiatives/amiralsgatan").get_data(as_text=True)
    note = dashboard[dashboard.index('data-invalidated="1"') :].split("</dd>")[0]
    link = re.search(r'href="([^"]+)"', note)
    assert link is not None
    assert link.group(1).replace("&amp;", "&") == f"{BASE}?state=invalidated"
    assert "Amira Hassan" in client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
