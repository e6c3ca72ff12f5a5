"""Stand tablets in the admin, on SQLite and PostgreSQL: create with a one-time code (shown
with its expiry, URL and QR code), list, a new code, unenrol, revoke; roles and the log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from initiatives import clock, kiosk_signatures, kiosks
from initiatives.extensions import db
from initiatives.models import AuditEvent, InitiativeState

from .admin_helpers import logged_in, post_form
from .test_kiosk import Tablet, enrol, enrolled_tablet, kiosk_rows

CODE_RE = re.compile(r'<p class="enrol-code"><code>([A-Z0-9]{4}-[A-Z0-9]{4})</code></p>')


def create_kiosk(client, name: str = "Stand 1", *slugs: str):
    return post_form(
        client,
        "/admin/kiosks/new",
        "/admin/kiosks/new",
        name=name,
        initiatives=list(slugs or ("amiralsgatan",)),
    )


def shown_code(client, location: str) -> str | None:
    found = CODE_RE.search(client.get(location).get_data(as_text=True))
    return found.group(1) if found else None


def kiosk_named(app, name: str = "Stand 1") -> kiosks.Kiosk:
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk).where(kiosks.Kiosk.name == name)).one()
        db.session.expunge(kiosk)
        return kiosk


def audit_actions(app) -> list[tuple[str, str]]:
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action.startswith("kiosk."))
            .order_by(AuditEvent.id)
        )
        return [(e.action, e.actor) for e in events]


def test_an_organiser_creates_a_kiosk_and_a_tablet_enrols_with_the_code(app, make_initiative):
    make_initiative()
    make_initiative("ljus", texts={"sv": {"title": "Ljus i parken"}})
    make_initiative("utkast", state=InitiativeState.DRAFT)
    make_initiative("stangd", state=InitiativeState.CLOSED)
    organiser = logged_in(app, role="organiser")

    form = organiser.get("/admin/kiosks/new").get_data(as_text=True)
    # Stands collect for initiatives that collect now, or drafts being prepared.
    assert 'value="amiralsgatan"' in form and 'value="utkast"' in form
    assert 'value="stangd"' not in form
    # From an initiative's dashboard the form opens with that initiative ticked.
    dashboard = organiser.get("/admin/initiatives/ljus").get_data(as_text=True)
    assert 'href="/admin/kiosks/new?initiative=ljus"' in dashboard
    ticked = organiser.get("/admin/kiosks/new?initiative=ljus").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="ljus"', ticked)
    assert not re.search(r'<input checked[^>]*value="amiralsgatan"', ticked)

    response = create_kiosk(organiser, "Stand 1", "amiralsgatan", "ljus")
    assert response.status_code == 302
    detail = response.headers["Location"]
    page = organiser.get(detail).get_data(as_text=True)
    code = shown_code(organiser, detail)
    assert code is not None
    # The expiry (Malmö time), the enrolment URL with the code, and its QR code inline.
    kiosk = kiosk_named(app)
    expires = kiosk.code_expires_at.astimezone(clock.LOCAL_TZ)
    assert f"till klockan {expires:%H:%M}" in page
    assert f"http://localhost/kiosk/enrol/{code.replace('-', '')}" in page
    assert re.search(
        r'<svg role="img" class="qr" aria-label="QR-kod till http://localhost/kiosk/enrol/', page
    )
    assert "<path" in page and "style=" not in page.split('<svg role="img"')[1].split("</svg>")[0]
    assert [i.slug for i in kiosk.initiatives] == ["amiralsgatan", "ljus"]

    # Only the code's hash is stored; the session holds it encrypted, not readable.
    with organiser.session_transaction() as session:
        stored = str(session["admin_kiosk_codes"])
    assert code.replace("-", "") not in stored and code not in stored
    with app.app_context():
        assert db.session.scalar(sa.select(kiosks.Kiosk.code_hash)) != code

    # The tablet enrols with the code, as typed from the screen.
    tablet = app.test_client()
    assert enrol(tablet, code).status_code == 303
    # Used: it is not shown any more, and the list says the tablet is enrolled.
    assert shown_code(organiser, detail) is None
    listing = organiser.get("/admin/kiosks").get_data(as_text=True)
    assert (
        "Stand 1" in listing and "Tryggare Amiralsgatan" in listing and "Ljus i parken" in listing
    )
    assert ">ja</span>" in listing
    assert audit_actions(app) == [
        ("kiosk.created", "organiser@example.org"),
        ("kiosk.enrolled", "kiosk:Stand 1"),
    ]


def test_the_list_shows_signatures_today_and_the_last_one(app, make_initiative):
    make_initiative()
    admin = logged_in(app)
    create_kiosk(admin)
    code = shown_code(admin, "/admin/kiosks/1")
    tablet = enrolled_tablet(app, code)
    for n in range(3):
        response = tablet.send(email=f"person{n}@example.org")
        assert response.status_code == 200, response.get_data(as_text=True)
    assert len(kiosk_rows(app)) == 3

    listing = admin.get("/admin/kiosks").get_data(as_text=True)
    row = listing.split("Stand 1", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["3", "0"]
    with app.app_context():
        last = kiosk_signatures.last_signatures([1])[1]
    assert last.tzinfo is not None and abs(clock.utcnow() - last) < timedelta(minutes=5)
    assert "Senaste underskrift" in listing and row.count("–") == 0


def test_a_new_code_replaces_the_old_one_and_is_logged(app, make_initiative):
    make_initiative()
    organiser = logged_in(app, role="organiser")
    create_kiosk(organiser)
    first = shown_code(organiser, "/admin/kiosks/1")
    response = post_form(organiser, "/admin/kiosks/1", "/admin/kiosks/1/code")
    assert response.status_code == 302
    second = shown_code(organiser, "/admin/kiosks/1")
    assert second and second != first
    assert enrol(app.test_client(), first).status_code == 400
    assert enrol(app.test_client(), second).status_code == 303
    assert ("kiosk.code_issued", "organiser@example.org") in audit_actions(app)

    # Another organiser's session never saw the code: nothing to show there.
    other = logged_in(app, role="organiser", email="annan@example.org")
    assert shown_code(other, "/admin/kiosks/1") is None


def test_an_expired_code_is_no_longer_shown(app, make_initiative, monkeypatch):
    make_initiative()
    organiser = logged_in(app, role="organiser")
    create_kiosk(organiser)
    assert shown_code(organiser, "/admin/kiosks/1") is not None
    later = clock.utcnow() + timedelta(minutes=kiosks.CODE_MINUTES + 1)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    page = organiser.get("/admin/kiosks/1").get_data(as_text=True)
    assert CODE_RE.search(page) is None and "ingen giltig kod" in page


def test_the_new_code_is_still_shown_after_a_secret_key_rotation(app, make_app, make_initiative):
    """A restart with SECRET_KEY moved to SECRET_KEY_FALLBACKS keeps the organiser's
    session, and with it the code just made for the tablet waiting at the stand."""
    make_initiative()
    organiser = logged_in(app, role="organiser")
    create_kiosk(organiser)
    code = shown_code(organiser, "/admin/kiosks/1")
    assert code is not None
    rotated = make_app(
        SECRET_KEY="a-new-key-for-the-rotation-test-" + "x" * 16,
        SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]],
    )
    after = rotated.test_client()
    after.set_cookie("initiatives_session", organiser.get_cookie("initiatives_session").value)
    assert shown_code(after, "/admin/kiosks/1") == code


def test_unenrol_and_revoke_lock_the_tablet_out(app, make_initiative):
    make_initiative()
    admin = logged_in(app)
    create_kiosk(admin)
    tablet: Tablet = enrolled_tablet(app, shown_code(admin, "/admin/kiosks/1"))
    assert tablet.client.get("/kiosk/sign/sv").status_code == 200
    # The organiser is told what unbinding does to signatures still queued on the tablet.
    page = admin.get("/admin/kiosks/1").get_data(as_text=True)
    assert "Nyckeln som öppnar surfplattans kö raderas" in page
    assert "skickas underskrifterna som väntar i dess kö ändå" in page

    assert post_form(admin, "/admin/kiosks/1", "/admin/kiosks/1/unenrol").status_code == 302
    assert tablet.client.get("/kiosk/sign/sv").status_code == 303  # back to enrolment
    assert kiosk_named(app).status == "waiting"
    # The key that opens what the tablet queued is gone with the binding.
    assert kiosk_named(app).queue_keys_enc is None

    # A new tablet enrols with a new code; then the kiosk is revoked for good.
    post_form(admin, "/admin/kiosks/1", "/admin/kiosks/1/code")
    second = enrolled_tablet(app, shown_code(admin, "/admin/kiosks/1"))
    response = post_form(admin, "/admin/kiosks/1", "/admin/kiosks/1/revoke")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/kiosks"
    assert second.client.get("/kiosk/sign/sv").status_code == 303
    assert second.send().status_code == 403
    assert kiosk_named(app).status == "revoked"
    assert kiosk_named(app).queue_keys_enc is None and kiosk_named(app).queue_public_key is None
    # Gone from the list of active kiosks, shown with the revoked ones; no new code.
    listing = admin.get("/admin/kiosks").get_data(as_text=True)
    assert "Stand 1 är återkallad" in listing  # the flash message
    assert 'href="/admin/kiosks/1"' not in listing
    revoked = admin.get("/admin/kiosks?all=1").get_data(as_text=True)
    assert 'href="/admin/kiosks/1"' in revoked and "återkallad</span>" in revoked
    post_form(admin, "/admin/kiosks/1", "/admin/kiosks/1/code")
    assert shown_code(admin, "/admin/kiosks/1") is None
    assert kiosk_named(app).code_hash is None
    with app.app_context(), pytest.raises(ValueError, match="revoked"):
        kiosks.issue_code(db.session.get(kiosks.Kiosk, 1), actor="test")
    # The name is free again for a new kiosk.
    assert create_kiosk(admin).status_code == 302
    actions = [a for a, _ in audit_actions(app)]
    assert actions.count("kiosk.left") == 1 and actions.count("kiosk.revoked") == 1


def test_bad_input_gets_a_message_not_a_500(app, make_initiative):
    make_initiative()
    organiser = logged_in(app, role="organiser")
    empty = create_kiosk(organiser, "   ")
    assert empty.status_code == 400 and "Skriv ett namn" in empty.get_data(as_text=True)
    none_chosen = post_form(organiser, "/admin/kiosks/new", "/admin/kiosks/new", name="Stand 2")
    assert none_chosen.status_code == 400
    assert "Välj minst ett initiativ" in none_chosen.get_data(as_text=True)
    unknown = create_kiosk(organiser, "Stand 2", "finns-inte")
    assert unknown.status_code == 400
    too_long = create_kiosk(organiser, "x" * 81)
    assert too_long.status_code == 400 and "högst 80 tecken" in too_long.get_data(as_text=True)
    control = create_kiosk(organiser, "Stand\x00 2")
    assert control.status_code == 400

    assert create_kiosk(organiser, "Stand 1").status_code == 302
    taken = create_kiosk(organiser, "Stand 1")
    assert taken.status_code == 400 and "finns redan" in taken.get_data(as_text=True)
    for path in ("/admin/kiosks/99", "/admin/kiosks/abc"):
        assert organiser.get(path).status_code == 404
    assert post_form(organiser, "/admin/kiosks/1", "/admin/kiosks/99/revoke").status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(kiosks.Kiosk.id))) == 1


def test_a_refusal_other_than_the_name_is_not_reported_as_the_name_taken(
    app, make_initiative, monkeypatch
):
    """Only the active-name index means "a tablet has that name".  Another refusal by
    the database (here the one-time code's: the codes are random, and two alike, one
    chance in 31^8, are made to happen by always drawing the same character) must not
    send the organiser off to pick another name: it is an error, logged, and said so."""
    make_initiative()
    monkeypatch.setattr(kiosks.secrets, "choice", lambda alphabet: alphabet[0])
    organiser = logged_in(app, role="organiser")
    assert create_kiosk(organiser, "Stand 1").status_code == 302
    clash = create_kiosk(organiser, "Stand 2")
    assert clash.status_code == 500
    assert "finns redan" not in clash.get_data(as_text=True)
    assert "Ett fel uppstod" in clash.get_data(as_text=True)

    result = app.test_cli_runner().invoke(
        args=["kiosk", "create", "--initiative", "amiralsgatan", "--name", "Stand 3"]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "A kiosk called" not in result.output and "could not be created" in result.output
    assert "code_hash" in result.output
    with app.app_context():
        assert [k.name for k in kiosks.all_kiosks()] == ["Stand 1"]


def test_kiosk_pages_need_a_login(app, client, make_initiative):
    make_initiative()
    for path in ("/admin/kiosks", "/admin/kiosks/new", "/admin/kiosks/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    admin = logged_in(app)
    assert "Surfplattor" in admin.get("/admin/").get_data(as_text=True)
