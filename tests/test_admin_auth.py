"""Admin accounts: login, throttling, two-factor, roles, CSRF, logout, idle sessions, CLI."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image, ImageDraw

from initiatives import accounts
from initiatives.extensions import db

from .admin_helpers import PASSWORD, create_admin, logged_in, login, post_form
from .conftest import csrf_token


def test_admin_pages_need_a_login(app, client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_login_then_logout_by_post_only(app, client):
    create_admin(app)
    response = login(client, follow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200 and "Initiativ" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"

    assert client.get("/admin/logout").status_code == 405
    assert client.post("/admin/logout").status_code == 400  # no CSRF token: not logged out
    assert client.get("/admin/").status_code == 200

    response = post_form(client, "/admin/", "/admin/logout")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_a_session_cookie_copied_before_logout_is_logged_out_too(app, client):
    # Flask's session is a signed cookie: clearing it in the browser that logs out does
    # nothing to a copy (a shared computer, a stolen cookie).  Logging out must end it
    # on the server.
    create_admin(app)
    assert login(client).status_code == 302
    copy = app.test_client()
    copy.set_cookie("initiatives_session", client.get_cookie("initiatives_session").value)
    assert copy.get("/admin/").status_code == 200

    post_form(client, "/admin/", "/admin/logout")
    assert copy.get("/admin/").status_code == 302
    assert login(client).status_code == 302  # she logs in again as usual


def test_wrong_password_and_unknown_account_look_the_same(app, client):
    create_admin(app)
    wrong = login(client, password="inte rätt lösenord alls")
    unknown = login(client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    message = "E-postadressen eller lösenordet stämmer inte."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_a_nul_byte_in_the_email_is_a_plain_form_error(app, client):
    create_admin(app)
    # PostgreSQL refuses NUL in a text value: the address must not reach the query.
    response = login(client, email="samira\x00@example.org")
    assert response.status_code == 400
    assert "Fältet innehåller tecken som inte är tillåtna." in response.get_data(as_text=True)


def test_next_is_never_an_open_redirect(app, client):
    create_admin(app)
    token = csrf_token(client, "/admin/login")
    response = client.post(
        "/admin/login?next=//evil.example/admin",
        data={"email": "samira@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/admin/"
    # Nor an action that only takes POST (an old link): that would answer 405.
    for target, page in (
        ("/admin/logout", "/admin/"),
        ("/admin/accounts/1/role", "/admin/accounts"),
    ):
        client = app.test_client()
        token = csrf_token(client, "/admin/login")
        response = client.post(
            f"/admin/login?next={target}",
            data={"email": "samira@example.org", "password": PASSWORD, "csrf_token": token},
        )
        assert response.headers["Location"] == page, target


def test_login_is_throttled_per_account_in_the_database(make_app):
    app = make_app(ADMIN_LOGIN_MAX_PER_ACCOUNT=3)
    create_admin(app)
    for n in range(3):
        attacker = app.test_client()
        attacker.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        assert login(attacker, password="gissning nummer " + str(n)).status_code == 401
    # Even the right password from yet another client is refused now.
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    refused = login(owner)
    assert refused.status_code == 429
    assert "För många misslyckade försök" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(accounts.LoginFailure.id))) == 3
        # The window passes (the failures age): the owner gets in, and the count is cleared.
        db.session.execute(sa.update(accounts.LoginFailure).values(at=_minutes_ago(20)))
        db.session.commit()
    assert login(owner).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(accounts.LoginFailure.id))) == 0


def _minutes_ago(minutes: int):
    from datetime import timedelta

    from initiatives import clock

    return clock.utcnow() - timedelta(minutes=minutes)


def test_login_is_throttled_per_client(make_app):
    app = make_app(ADMIN_LOGIN_MAX_PER_CLIENT=3)
    create_admin(app)
    sprayer = app.test_client()
    sprayer.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    for n in range(3):
        assert login(sprayer, email=f"guess{n}@example.org").status_code == 401
    assert login(sprayer).status_code == 429  # the right account, but from this client
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "203.0.113.1"
    assert login(elsewhere).status_code == 302


def _decode_svg_qr(svg: str) -> str:
    """Rasterise the QR code's path (unit squares) and decode it with a real decoder."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r' d="([^"]+)"', svg).group(1)
    for x, y in re.findall(r"M(\d+),(\d+)H", path):
        x0, y0 = int(x) * scale, int(y) * scale
        draw.rectangle([x0, y0, x0 + scale - 1, y0 + scale - 1], fill=0)
    results = zxingcpp.read_barcodes(image)
    assert results, "the QR code did not decode"
    return results[0].text


def _second_factor_on(app, client, email: str = "amal@example.org") -> pyotp.TOTP:
    """Turn two-factor login on for the account ``client`` is logged in to, as she would
    on *Mitt konto*: her password, then the authenticator app she set up."""
    post_form(client, "/admin/account", "/admin/account/2fa/start", totp_password=PASSWORD)
    with app.app_context():
        totp = pyotp.TOTP(accounts.pending_secret(accounts.by_email(email)))
    enrolled = post_form(client, "/admin/account/2fa", "/admin/account/2fa", code=totp.now())
    assert enrolled.status_code == 302
    return totp


def _user_id(app, email: str) -> int:
    with app.app_context():
        return accounts.by_email(email).id


def test_two_factor_enrolment_and_login(app):
    client = logged_in(app, email="amal@example.org")
    post_form(client, "/admin/account", "/admin/account/2fa/start", totp_password=PASSWORD)
    page = client.get("/admin/account/2fa")
    html = page.get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    # Inline SVG is allowed by the CSP as long as it carries no style or script.
    assert "style" not in svg and "script" not in svg and "on" + "load" not in svg
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    uri = _decode_svg_qr(svg)
    assert uri.startswith("otpauth://totp/") and "amal%40example.org" in uri
    secret = pyotp.parse_uri(uri).secret
    # The key to type by hand (no camera) in groups of four, as apps show and take it,
    # and a way back to the account page without turning anything on.
    shown = re.search(r'<code class="secret"[^>]*>([^<]+)</code>', html).group(1)
    assert shown == " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    assert 'href="/admin/account">Avbryt</a>' in html

    wrong = post_form(client, "/admin/account/2fa", "/admin/account/2fa", code="000000")
    assert wrong.status_code == 400
    totp = pyotp.TOTP(secret)
    ok = post_form(client, "/admin/account/2fa", "/admin/account/2fa", code=totp.now())
    assert ok.status_code == 302
    assert client.get("/admin/").status_code == 200  # this session survives enrolment
    post_form(client, "/admin/", "/admin/logout")

    # The password alone is not enough now.
    first = login(client, "amal@example.org")
    assert first.headers["Location"].startswith("/admin/login/code")
    assert client.get("/admin/").status_code == 302
    bad = post_form(client, "/admin/login/code", "/admin/login/code", code="123456")
    assert bad.status_code == 401
    # A code from a step not yet used (the next one is accepted for clock drift).
    code = totp.at(time.time() + 30)
    good = post_form(client, "/admin/login/code", "/admin/login/code", code=code)
    assert good.status_code == 302 and good.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    post_form(client, "/admin/", "/admin/logout")

    # The same code cannot be used twice.
    login(client, "amal@example.org")
    replay = post_form(client, "/admin/login/code", "/admin/login/code", code=code)
    assert replay.status_code == 401


def test_a_code_typed_in_arabic_or_persian_digits_is_the_same_code(app):
    # A phone or laptop keyboard set to Arabic types ٣ for 3, one set to Persian ۳.
    client = logged_in(app, email="amal@example.org")
    post_form(client, "/admin/account", "/admin/account/2fa/start", totp_password=PASSWORD)
    with app.app_context():
        totp = pyotp.TOTP(accounts.pending_secret(accounts.by_email("amal@example.org")))
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    persian = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    enrolled = post_form(
        client, "/admin/account/2fa", "/admin/account/2fa", code=totp.now().translate(arabic)
    )
    assert enrolled.status_code == 302
    post_form(client, "/admin/", "/admin/logout")

    login(client, "amal@example.org")
    code = totp.at(time.time() + 30).translate(persian)
    good = post_form(client, "/admin/login/code", "/admin/login/code", code=code)
    assert good.status_code == 302 and good.headers["Location"] == "/admin/"


def test_a_session_alone_cannot_replace_the_second_factor(app):
    # Turning two-factor off takes the password; swapping it for a new app must too, or
    # someone at an unlocked laptop could take over the second factor (and end the
    # owner's other sessions) with two clicks.
    client = logged_in(app, email="amal@example.org")
    _second_factor_on(app, client)
    with app.app_context():
        before = accounts.by_email("amal@example.org")
        secret, nonce = before.totp_secret_enc, before.session_nonce

    again = post_form(client, "/admin/account", "/admin/account/2fa/start")
    assert again.status_code == 302 and again.headers["Location"] == "/admin/account"
    assert client.get("/admin/account/2fa").headers["Location"] == "/admin/account"
    with app.app_context():
        after = accounts.by_email("amal@example.org")
        assert after.totp_pending_enc is None
        assert (after.totp_secret_enc, after.session_nonce) == (secret, nonce)


def _enrolling(app, email: str = "amal@example.org") -> bool:
    with app.app_context():
        user = accounts.by_email(email)
        return user.totp_pending_enc is not None or user.has_totp


def test_turning_two_factor_on_takes_the_password(app):
    # Else someone at an unlocked laptop could put the second factor on their own phone
    # for an account that had none: the owner is locked out until an admin resets it.
    client = logged_in(app, email="amal@example.org")
    page = client.get("/admin/account").get_data(as_text=True)
    assert 'action="/admin/account/2fa/start"' in page and 'name="totp_password"' in page
    # Its own id: the password change form on the same page has an input "password".
    for target in re.findall(r'<label for="([^"]+)"', page):
        assert page.count(f'id="{target}"') == 1, target

    missing = post_form(client, "/admin/account", "/admin/account/2fa/start")
    assert missing.status_code == 400
    assert "Skriv ditt lösenord." in missing.get_data(as_text=True)
    wrong = post_form(
        client, "/admin/account", "/admin/account/2fa/start", totp_password="inte mitt lösenord"
    )
    assert wrong.status_code == 400
    html = wrong.get_data(as_text=True)
    assert "Lösenordet stämmer inte." in html and 'href="#totp_password"' in html
    assert not _enrolling(app)
    assert client.get("/admin/account/2fa").headers["Location"] == "/admin/account"

    right = post_form(client, "/admin/account", "/admin/account/2fa/start", totp_password=PASSWORD)
    assert right.status_code == 302 and right.headers["Location"] == "/admin/account/2fa"
    with app.app_context():
        totp = pyotp.TOTP(accounts.pending_secret(accounts.by_email("amal@example.org")))
    on = post_form(client, "/admin/account/2fa", "/admin/account/2fa", code=totp.now())
    assert on.status_code == 302
    with app.app_context():
        assert accounts.by_email("amal@example.org").has_totp


def test_turning_two_factor_off_labels_its_own_field_and_says_what_is_missing(app):
    """With two-factor on, the page holds the form that turns it off beside the password
    change: each label names one field (else "Nytt lösenord" points at the other form's),
    and an empty password is said on the field, not as a bare error page."""
    client = logged_in(app, email="amal@example.org")
    _second_factor_on(app, client)
    page = client.get("/admin/account").get_data(as_text=True)
    assert 'action="/admin/account/2fa/disable"' in page
    targets = re.findall(r'<label for="([^"]+)"', page)
    assert "password" in targets
    for target in targets:
        assert page.count(f'id="{target}"') == 1, target

    missing = post_form(client, "/admin/account", "/admin/account/2fa/disable")
    assert missing.status_code == 400
    html = missing.get_data(as_text=True)
    assert "Skriv ditt lösenord." in html and 'href="#totp_password"' in html
    with app.app_context():
        assert accounts.by_email("amal@example.org").has_totp


def test_guessing_the_password_to_turn_two_factor_on_is_throttled_like_a_login(make_app):
    app = make_app(ADMIN_LOGIN_MAX_PER_ACCOUNT=3)
    client = logged_in(app, email="amal@example.org")
    for guess in ("första", "andra", "tredje"):
        wrong = post_form(client, "/admin/account", "/admin/account/2fa/start", totp_password=guess)
        assert wrong.status_code == 400
    refused = post_form(
        client, "/admin/account", "/admin/account/2fa/start", totp_password=PASSWORD
    )
    assert refused.status_code == 429
    assert "För många misslyckade försök" in refused.get_data(as_text=True)
    assert not _enrolling(app)
    # The guesses count for the account, as at the login.
    assert login(app.test_client(), "amal@example.org").status_code == 429


def test_an_enrolment_left_half_done_is_not_finished_by_a_later_session(app):
    # She typed her password and got the QR code, then left it: the secret waits in the
    # database.  A later session (someone at her laptop after she logged in again) must
    # not pick it up without typing the password itself.
    first = logged_in(app, email="amal@example.org")
    post_form(first, "/admin/account", "/admin/account/2fa/start", totp_password=PASSWORD)
    with app.app_context():
        totp = pyotp.TOTP(accounts.pending_secret(accounts.by_email("amal@example.org")))
    later = app.test_client()
    assert login(later, "amal@example.org").status_code == 302
    assert later.get("/admin/account/2fa").headers["Location"] == "/admin/account"
    sent = post_form(later, "/admin/account", "/admin/account/2fa", code=totp.now())
    assert sent.status_code == 302 and sent.headers["Location"] == "/admin/account"
    with app.app_context():
        assert not accounts.by_email("amal@example.org").has_totp

    # The session that typed the password finishes it as before.
    done = post_form(first, "/admin/account/2fa", "/admin/account/2fa", code=totp.now())
    assert done.status_code == 302
    with app.app_context():
        assert accounts.by_email("amal@example.org").has_totp


def test_code_step_without_password_step_goes_back_to_login(app, client):
    response = client.get("/admin/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"


def test_organiser_cannot_manage_accounts(app):
    organiser = logged_in(app, role="organiser")
    assert organiser.get("/admin/").status_code == 200
    assert organiser.get("/admin/accounts").status_code == 403
    token = csrf_token(organiser, "/admin/")
    response = organiser.post(
        "/admin/accounts",
        data={"email": "x@example.org", "role": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 403
    assert "Konton" not in organiser.get("/admin/").get_data(as_text=True)

    admin = logged_in(app, role="admin")
    assert admin.get("/admin/accounts").status_code == 200
    created = post_form(
        admin,
        "/admin/accounts",
        "/admin/accounts",
        email="ny@example.org",
        name="Ny",
        role="organiser",
        password=PASSWORD,
    )
    assert created.status_code == 302
    with app.app_context():
        assert accounts.by_email("ny@example.org").role == "organiser"


def test_every_admin_post_needs_a_csrf_token(app, make_initiative):
    make_initiative()
    client = logged_in(app)
    posts = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and "POST" in (rule.methods or ())
    ]
    assert len(posts) >= 33
    values = {"slug": "amiralsgatan", "locale": "sv", "user_id": 1, "sheet_id": 1}
    values |= {"signature_id": 1, "public_id": "0" * 32}
    values |= {"kiosk_id": 1, "event_id": 1, "tag": "poster"}
    for rule in posts:
        url = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        response = client.post(url, data={"anything": "x"})
        assert response.status_code == 400, url
        assert "Formuläret hade gått ut" in response.get_data(as_text=True), url


def test_an_id_too_large_for_the_database_is_not_found(app, make_initiative):
    make_initiative()
    client = logged_in(app)
    token = csrf_token(client, "/admin/")
    ids = {"user_id", "sheet_id", "signature_id", "kiosk_id", "event_id"}
    rules = [
        r for r in app.url_map.iter_rules() if r.rule.startswith("/admin") and ids & r.arguments
    ]
    assert len(rules) >= 12
    # Beyond PostgreSQL's integer, and beyond SQLite's.
    for too_large in (2**31, 2**63):
        for rule in rules:
            values = {"slug": "amiralsgatan"} | dict.fromkeys(ids, too_large)
            url = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(url, method=method, data={"csrf_token": token})
                assert response.status_code == 404, (method, url)
                assert "Sidan finns inte" in response.get_data(as_text=True)


def test_a_nul_byte_in_a_slug_or_signature_id_is_not_found(app, make_initiative):
    make_initiative()
    client = logged_in(app)
    for url in (
        "/admin/initiatives/amiralsgatan%00",
        "/admin/initiatives/amiralsgatan%00/signatures",
        "/admin/initiatives/amiralsgatan/signatures/" + "0" * 16 + "%00",
    ):
        response = client.get(url)
        assert response.status_code == 404, url  # PostgreSQL refuses NUL in a text value
        assert "Sidan finns inte" in response.get_data(as_text=True)


def test_a_session_ends_after_idle_minutes(make_app):
    app = make_app(ADMIN_IDLE_MINUTES=30)
    client = logged_in(app)
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as session:
        session["admin_seen"] = int(time.time()) - 31 * 60
    response = client.get("/admin/accounts?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/accounts?x%3D1"
    assert "inaktiv för länge" in client.get("/admin/login").get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    # Logging in again leads back to the page she was on.
    token = csrf_token(client, response.headers["Location"])
    again = client.post(
        response.headers["Location"],
        data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert again.status_code == 302 and again.headers["Location"] == "/admin/accounts?x=1"


def test_a_busy_session_ends_hours_after_its_login_copies_of_its_cookie_too(make_app):
    """The idle rule alone keeps a session alive as long as it is used, a copied cookie
    included: ADMIN_SESSION_HOURS after the login it ends however busy.  A form sent then
    is not carried out, and she is told so."""
    app = make_app(ADMIN_IDLE_MINUTES=30, ADMIN_SESSION_HOURS=12)
    client = logged_in(app)
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as session:
        assert abs(session["admin_since"] - time.time()) < 60  # set at the login
        session["admin_since"] = int(time.time()) - 11 * 3600  # busy all day: still in
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as session:
        session["admin_since"] = int(time.time()) - 12 * 3600 - 60
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/"
    assert "inloggad länge" in client.get("/admin/login").get_data(as_text=True)
    assert client.get("/admin/").status_code == 302

    # The same for a form: not saved, and said so.
    assert login(client, "admin@example.org").status_code == 302
    token = csrf_token(client, "/admin/account")
    with client.session_transaction() as session:
        session["admin_since"] = int(time.time()) - 13 * 3600
    response = client.post("/admin/account/2fa/start", data={"csrf_token": token})
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "inloggad länge" in page and "sparades inte" in page


def test_a_form_sent_without_its_session_cookie_leads_to_the_login_not_a_400(app):
    """The browser was closed with the page open (its session cookie went) or the cookies
    were cleared: the form's token cannot be checked.  She is asked to log in, told the
    form was not saved, and led back to the page it came from.  Logged in, a wrong token
    stays a 400."""
    client = logged_in(app)
    token = csrf_token(client, "/admin/accounts")
    client.delete_cookie(app.config["SESSION_COOKIE_NAME"])
    response = client.post("/admin/accounts", data={"csrf_token": token, "email": "x@y.se"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/accounts"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Du hade loggats ut." in page and "sparades inte" in page

    client = app.test_client()
    assert login(client, "admin@example.org").status_code == 302
    forged = client.post("/admin/accounts", data={"csrf_token": "forged", "email": "x@y.se"})
    assert forged.status_code == 400


def test_a_session_from_before_the_login_time_was_kept_counts_from_now(make_app):
    app = make_app()
    client = logged_in(app)
    with client.session_transaction() as session:
        del session["admin_since"]
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as session:
        assert abs(session["admin_since"] - time.time()) < 60


def _objects_behind_every_admin_url(app, sign) -> dict[str, object]:
    """One of each thing an admin URL names, so that each page above an action exists."""
    from initiatives import clock, kiosks, paper
    from initiatives.models import Initiative, Signature

    assert sign().status_code == 303
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        kiosk, _code = kiosks.create("Stand 1", [initiative], actor="test")
        sheet = paper.add_sheet(
            initiative, "test", number="7", collected_on=clock.utcnow().date(), collected_by="H"
        )
        row, _matches = paper.add_row(
            sheet, "test", name="Hodan Ali", postcode=None, signed_on=clock.utcnow().date()
        )
        db.session.commit()
        public_id = db.session.scalars(
            sa.select(Signature.public_id).where(Signature.channel == "web")
        ).one()
        return {
            "slug": "amiralsgatan", "locale": "sv", "user_id": 1, "sheet_id": sheet.id,
            "signature_id": row.signature_id, "public_id": public_id, "kiosk_id": kiosk.id,
            "event_id": 1, "tag": "poster",
        }  # fmt: skip


def _log_in_again(client, login_page: str) -> str:
    """Log in on the page a refused request was sent to: where the login leads."""
    token = csrf_token(client, login_page)
    data = {"email": "admin@example.org", "password": PASSWORD, "csrf_token": token}
    response = client.post(login_page, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.mark.parametrize("how", ["idle", "ended elsewhere"])
def test_a_form_sent_after_the_session_ended_leads_back_to_a_page_not_a_405(
    make_app, make_initiative, sign, how
):
    # Her session ended while a form was open (idle too long, or logged out in another
    # browser).  She is asked to log in, told that what she sent was not saved, and then
    # sees a page: for an action that only takes POST, the page its form is on (never the
    # action's URL by GET, a 405).
    app = make_app(ADMIN_IDLE_MINUTES=30)
    make_initiative()
    values = _objects_behind_every_admin_url(app, sign)
    client = logged_in(app)
    other_browser = app.test_client()
    posts = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and "POST" in (rule.methods or ())
        if rule.endpoint not in ("admin.login", "admin.login_code", "admin.logout")
    ]
    assert len(posts) >= 30
    slug, kiosk, public_id = values["slug"], values["kiosk_id"], values["public_id"]
    form_pages = {
        "/admin/accounts/1/role": "/admin/accounts",
        f"/admin/initiatives/{slug}/publish": f"/admin/initiatives/{slug}/lifecycle",
        f"/admin/kiosks/{kiosk}/revoke": f"/admin/kiosks/{kiosk}",
        f"/admin/initiatives/{slug}/signatures/{public_id}/erase": (
            f"/admin/initiatives/{slug}/signatures/{public_id}"
        ),
        f"/admin/initiatives/{slug}/campaign/tags/poster/remove": (
            f"/admin/initiatives/{slug}/campaign"
        ),
    }
    for rule in posts:
        url = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        token = csrf_token(client, "/admin/")
        if how == "idle":
            with client.session_transaction() as session:
                session["admin_seen"] = int(time.time()) - 31 * 60
        else:
            login(other_browser, "admin@example.org")
            post_form(other_browser, "/admin/", "/admin/logout")
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code == 302, url
        login_page = response.headers["Location"]
        assert login_page.startswith("/admin/login?next="), url
        assert "sparades inte" in client.get(login_page).get_data(as_text=True), url
        page = _log_in_again(client, login_page)
        assert page == form_pages.get(url, page), url
        # (The two-factor page sends her on to "Mitt konto" when nothing is being enrolled.)
        assert client.get(page, follow_redirects=True).status_code == 200, (url, page)


def test_logging_out_after_the_session_ended_just_says_so(make_app):
    app = make_app(ADMIN_IDLE_MINUTES=30)
    client = logged_in(app)
    token = csrf_token(client, "/admin/")
    with client.session_transaction() as session:
        session["admin_seen"] = int(time.time()) - 31 * 60
    response = client.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    assert "Du är utloggad" in client.get("/admin/login").get_data(as_text=True)

    # Logged out elsewhere meanwhile: her browser's logout button still just logs out.
    client = app.test_client()
    login(client, "admin@example.org")
    token = csrf_token(client, "/admin/")
    elsewhere = app.test_client()
    login(elsewhere, "admin@example.org")
    post_form(elsewhere, "/admin/", "/admin/logout")
    response = client.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    assert "Du är utloggad" in client.get("/admin/login").get_data(as_text=True)
    assert _log_in_again(client, "/admin/login") == "/admin/"


def test_new_password_ends_other_sessions(app):
    create_admin(app, "rahel@example.org")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "rahel@example.org")
    login(phone, "rahel@example.org")
    new = "ett helt nytt och långt lösenord"
    response = post_form(
        laptop,
        "/admin/account",
        "/admin/account/password",
        current=PASSWORD,
        password=new,
        repeat=new,
    )
    assert response.status_code == 302
    assert laptop.get("/admin/").status_code == 200
    assert phone.get("/admin/").status_code == 302
    assert login(phone, "rahel@example.org", new).status_code == 302


def test_guessing_the_password_from_a_session_is_throttled_like_a_login(make_app):
    # Someone at an unlocked laptop must not try passwords without limit on the account
    # page: the password is what turns two-factor off and outlives the session.
    app = make_app(ADMIN_LOGIN_MAX_PER_ACCOUNT=3)
    client = logged_in(app, email="amal@example.org")
    _second_factor_on(app, client)
    new = "ett helt nytt och långt lösenord"
    for guess in ("första gissningen", "andra gissningen"):
        wrong = post_form(
            client,
            "/admin/account",
            "/admin/account/password",
            current=guess,
            password=new,
            repeat=new,
        )
        assert wrong.status_code == 400
    wrong = post_form(
        client, "/admin/account", "/admin/account/2fa/disable", totp_password="tredje"
    )
    assert wrong.status_code == 400

    for action, data in (
        ("/admin/account/password", {"current": PASSWORD, "password": new, "repeat": new}),
        ("/admin/account/2fa/disable", {"totp_password": PASSWORD}),
    ):
        refused = post_form(client, "/admin/account", action, **data)
        assert refused.status_code == 429, action
        assert "För många misslyckade försök" in refused.get_data(as_text=True)
    with app.app_context():
        user = accounts.by_email("amal@example.org")
        assert accounts.verify_password(user, PASSWORD) and user.has_totp


def test_deactivated_account_is_logged_out_and_cannot_log_in(app):
    admin = logged_in(app)
    user_id = create_admin(app, "tidigare@example.org", role="organiser")
    other = app.test_client()
    login(other, "tidigare@example.org")
    assert other.get("/admin/").status_code == 200
    post_form(admin, "/admin/accounts", f"/admin/accounts/{user_id}/active")
    assert other.get("/admin/").status_code == 302
    assert login(other, "tidigare@example.org").status_code == 401


def test_the_accounts_page_offers_no_button_to_deactivate_ones_own_account(app):
    """The server refuses it ("you cannot close your own account"): the button that
    only leads to that refusal is not shown on her own row; others' rows keep theirs."""
    admin = logged_in(app)
    other = create_admin(app, "kollega@example.org", role="organiser")
    with app.app_context():
        me = accounts.by_email("admin@example.org").id
    html = admin.get("/admin/accounts").get_data(as_text=True)
    assert f'action="/admin/accounts/{other}/active"' in html
    assert f'action="/admin/accounts/{me}/active"' not in html


def test_the_last_admin_cannot_be_demoted(app):
    admin = logged_in(app)
    with app.app_context():
        me = accounts.by_email("admin@example.org").id
    post_form(admin, "/admin/accounts", f"/admin/accounts/{me}/role", role="organiser")
    with app.app_context():
        assert accounts.by_email("admin@example.org").role == "admin"


@pytest.mark.parametrize("how", ["stdin", "prompt"])
def test_cli_creates_an_account(app, how):
    runner = app.test_cli_runner()
    args = ["admin", "create", "--email", "Cli@Example.org", "--role", "admin"]
    if how == "stdin":
        result = runner.invoke(args=[*args, "--password-stdin"], input=PASSWORD + "\n")
    else:
        result = runner.invoke(args=args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    with app.app_context():
        user = accounts.by_email("cli@example.org")
        assert user.role == "admin"
        assert user.password_hash.startswith("$argon2id$")
    assert login(app.test_client(), "cli@example.org").status_code == 302
    again = runner.invoke(args=[*args, "--password-stdin"], input=PASSWORD + "\n")
    assert again.exit_code != 0 and "redan" in again.output


def test_cli_sets_a_forgotten_password_and_ends_the_old_sessions(app):
    """The only admin forgot her password (or left): the operator sets a new one."""
    from initiatives.models import AuditEvent

    create_admin(app, "samira@example.org")
    old_session = app.test_client()
    assert login(old_session, "samira@example.org").status_code == 302
    new_password = "en helt ny lösenfras för kontot"
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["admin", "set-password", "--email", "Samira@Example.org", "--password-stdin"],
        input=new_password + "\n",
    )
    assert result.exit_code == 0, result.output
    assert new_password not in result.output
    assert login(app.test_client(), "samira@example.org").status_code == 401
    assert login(app.test_client(), "samira@example.org", password=new_password).status_code == 302
    # Whoever had her session (a shared laptop) is logged out.
    assert old_session.get("/admin/").status_code == 302
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert "admin.password_set" in actions

    # Lost phone too: --reset-2fa lets her enrol again.
    with app.app_context():
        user = accounts.by_email("samira@example.org")
        user.totp_secret_enc = accounts.crypto().encrypt(pyotp.random_base32())
        db.session.commit()
    result = runner.invoke(
        args=["admin", "set-password", "--email", "samira@example.org", "--password-stdin",
              "--reset-2fa"],
        input=new_password + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert not accounts.by_email("samira@example.org").has_totp

    unknown = runner.invoke(
        args=["admin", "set-password", "--email", "nobody@example.org", "--password-stdin"],
        input=new_password + "\n",
    )
    assert unknown.exit_code != 0 and "nobody@example.org" in unknown.output
    short = runner.invoke(
        args=["admin", "set-password", "--email", "samira@example.org", "--password-stdin"],
        input="kort\n",
    )
    assert short.exit_code != 0 and "minst 12" in short.output


def test_cli_refuses_a_short_password(app):
    result = app.test_cli_runner().invoke(
        args=["admin", "create", "--email", "a@example.org", "--password-stdin"], input="kort\n"
    )
    assert result.exit_code != 0 and "minst 12" in result.output


def test_an_address_with_a_non_ascii_domain_logs_in_however_it_is_spelled(app):
    """The account was made with the Unicode spelling of the domain (or its ASCII form):
    either spelling logs in, and the account is stored once."""
    create_admin(app, "samira@exämple.se")
    for spelling in ("samira@exämple.se", "Samira@EXÄMPLE.se", "samira@xn--exmple-cua.se"):
        assert login(app.test_client(), spelling).status_code == 302, spelling
    with app.app_context():
        assert accounts.by_email("samira@xn--exmple-cua.se") is not None
        with pytest.raises(accounts.AccountError):
            accounts.create_account("samira@xn--exmple-cua.se", PASSWORD)
        # One made before addresses were stored in ASCII keeps its Unicode spelling.
        older = accounts.create_account("hodan@example.org", PASSWORD)
        older.email = "hodan@bärnstensgatan.se"
        db.session.commit()
    assert login(app.test_client(), "Hodan@Bärnstensgatan.se").status_code == 302


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("samira@", "giltig e-postadress"),
        ("@example.org", "giltig e-postadress"),
        ("sam ira@example.org", "giltig e-postadress"),
        ("a@b@c", "giltig e-postadress"),
        ("samira\x00@example.org", "giltig e-postadress"),
        ("a" * 250 + "@example.org", "giltig e-postadress"),
        ("ämal@example.org", "å, ä, ö"),
        ("Sämira@exämple.se", "å, ä, ö"),
    ],
)
def test_the_command_line_refuses_an_address_the_account_form_refuses(app, address, message):
    # The same rules as the form on the accounts page, said before the password is
    # asked for, as a usage error (exit status 2).
    result = app.test_cli_runner().invoke(args=["admin", "create", "--email", address])
    assert result.exit_code == 2, result.output
    assert message in result.output and "--email" in result.output
    assert "Password" not in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(accounts.AdminUser.id))) == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [("H" * 201, "högst 200 tecken"), ("Hodan\x1b[2J", "inte är tillåtna"), ("Ho\x00dan", "inte")],
)
def test_the_command_line_refuses_a_name_the_account_form_refuses(app, name, message):
    result = app.test_cli_runner().invoke(
        args=["admin", "create", "--email", "hodan@example.org", "--name", name]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "--name" in result.output
    assert "Password" not in result.output


def test_the_command_line_stores_an_address_and_a_name_as_the_account_form_does(app):
    result = app.test_cli_runner().invoke(
        args=["admin", "create", "--email", " Hodan@Exämple.se ", "--name", "  Hodan Ali ",
              "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = accounts.by_email("hodan@xn--exmple-cua.se")
        assert user.email == "hodan@xn--exmple-cua.se" and user.name == "Hodan Ali"


def test_an_admin_cannot_reset_their_own_second_factor_without_the_password(app):
    # Turning one's own two-factor off takes the password (Mitt konto); the accounts
    # page's reset is for another organiser's lost phone, or a session alone (an unlocked
    # laptop) would be enough to strip the second factor and enrol a new phone.
    client = logged_in(app, email="amal@example.org")
    create_admin(app, "samira@example.org")
    _second_factor_on(app, client)
    me = _user_id(app, "amal@example.org")
    page = client.get("/admin/accounts").get_data(as_text=True)
    assert f"/admin/accounts/{me}/reset-2fa" not in page

    response = post_form(client, "/admin/accounts", f"/admin/accounts/{me}/reset-2fa")
    assert response.status_code == 302
    assert "Mitt konto" in client.get("/admin/accounts").get_data(as_text=True)
    with app.app_context():
        assert accounts.by_email("amal@example.org").has_totp

    # Another admin still resets it for her (a lost phone).
    other = app.test_client()
    login(other, "samira@example.org")
    assert post_form(other, "/admin/accounts", f"/admin/accounts/{me}/reset-2fa").status_code == 302
    with app.app_context():
        assert not accounts.by_email("amal@example.org").has_totp


def test_resetting_the_second_factor_ends_the_sessions_of_the_account(app):
    # The phone was lost or stolen, and whoever holds it may hold a logged-in browser:
    # the reset that lets her enrol again also ends every session of the account.
    admin = logged_in(app)
    organiser = logged_in(app, role="organiser", email="amal@example.org")
    _second_factor_on(app, organiser)
    user_id = _user_id(app, "amal@example.org")
    assert organiser.get("/admin/").status_code == 200

    reset = post_form(admin, "/admin/accounts", f"/admin/accounts/{user_id}/reset-2fa")
    assert reset.status_code == 302
    assert organiser.get("/admin/").status_code == 302
    assert admin.get("/admin/accounts").status_code == 200


def test_turning_ones_own_second_factor_off_ends_the_other_sessions(app):
    # As turning it on does: the browser she is in stays logged in, the others end.
    laptop = logged_in(app, email="amal@example.org")
    totp = _second_factor_on(app, laptop)
    phone = app.test_client()
    login(phone, "amal@example.org")
    token = csrf_token(phone, "/admin/login/code")
    later = time.time() + 30
    second_step = phone.post(
        "/admin/login/code", data={"code": totp.at(later), "csrf_token": token}
    )
    assert second_step.status_code == 302
    assert phone.get("/admin/").status_code == 200

    off = post_form(laptop, "/admin/account", "/admin/account/2fa/disable", totp_password=PASSWORD)
    assert off.status_code == 302
    assert laptop.get("/admin/account").status_code == 200
    assert phone.get("/admin/").status_code == 302


def test_a_login_half_done_with_the_old_password_ends_when_the_password_is_set(app):
    # The password leaked: someone passed the first step with it.  Setting a new password
    # ends the account's sessions, and the one still waiting for its code too.
    client = logged_in(app, email="amal@example.org")
    totp = _second_factor_on(app, client)
    intruder = app.test_client()
    assert login(intruder, "amal@example.org").headers["Location"].startswith("/admin/login/code")

    result = app.test_cli_runner().invoke(
        args=["admin", "set-password", "--email", "amal@example.org", "--password-stdin"],
        input="ett helt nytt och långt lösenord\n",
    )
    assert result.exit_code == 0, result.output
    later = time.time() + 30
    token = csrf_token(intruder, "/admin/login")
    response = intruder.post(
        "/admin/login/code", data={"code": totp.at(later), "csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    assert intruder.get("/admin/").status_code == 302
    with app.app_context():
        # The code was not spent on the refused attempt: the owner can still use it.
        assert accounts.by_email("amal@example.org").totp_last_step < int(later // 30)


def test_saving_a_role_unchanged_logs_nobody_out(app):
    # Each row of the accounts page has its own "Spara": pressing it on a row whose role
    # was not changed (one's own included) must not end that person's sessions.
    from initiatives.models import AuditEvent

    admin = logged_in(app)
    organiser_id = create_admin(app, "ali@example.org", role="organiser")
    organiser = app.test_client()
    login(organiser, "ali@example.org")
    with app.app_context():
        me = accounts.by_email("admin@example.org").id
    for user_id, role in ((me, "admin"), (organiser_id, "organiser")):
        response = post_form(admin, "/admin/accounts", f"/admin/accounts/{user_id}/role", role=role)
        assert response.status_code == 302 and response.headers["Location"] == "/admin/accounts"
    assert admin.get("/admin/accounts").status_code == 200
    assert organiser.get("/admin/").status_code == 200
    with app.app_context():
        changed = sa.select(sa.func.count()).where(AuditEvent.action == "admin.role_changed")
        assert db.session.scalar(changed) == 0

    # A real change still ends the sessions (the rights they carry changed).
    post_form(admin, "/admin/accounts", f"/admin/accounts/{organiser_id}/role", role="admin")
    assert organiser.get("/admin/").status_code == 302


def test_an_address_with_letters_beyond_ascii_before_the_at_logs_in_however_it_is_spelled(app):
    # The command line took such an address before it applied the account form's rules:
    # its domain in either spelling, and the letters composed or not, are one account
    # and one count of failed logins.
    with app.app_context():
        older = accounts.create_account("amal@example.org", PASSWORD)
        older.email = accounts.canonical("Ämal@Exämple.se")
        db.session.commit()
    spellings = ("ämal@exämple.se", "ämal@xn--exmple-cua.se", "A\u0308mal@exa\u0308mple.se")
    for spelling in spellings:
        assert login(app.test_client(), spelling).status_code == 302, spelling
    with app.app_context():
        keys = {accounts.Attempt.of(s, "198.51.100.1").account_key for s in spellings}
        assert len(keys) == 1


def test_guesses_from_elsewhere_do_not_lock_the_owner_out_of_a_browser_she_used_before(make_app):
    # Anyone who knows an organiser's address could otherwise keep her out for good with
    # a few wrong passwords every window.  A browser that logged in to the account before
    # carries a signed cookie; its own failures are counted on their own.
    app = make_app(ADMIN_LOGIN_MAX_PER_ACCOUNT=3)
    create_admin(app)
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert login(owner).status_code == 302
    post_form(owner, "/admin/", "/admin/logout")
    cookie = owner.get_cookie("admin_device", path="/admin")
    assert cookie is not None and cookie.http_only and cookie.max_age

    for n in range(4):
        attacker = app.test_client()
        attacker.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        assert login(attacker, password=f"gissning nummer {n}").status_code in (401, 429)
    newcomer = app.test_client()
    newcomer.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    assert login(newcomer).status_code == 429  # a browser never used: still throttled
    # A forged or copied cookie for another account does not help.
    newcomer.set_cookie("admin_device", "forged.cookie.value", path="/admin")
    assert login(newcomer).status_code == 429

    assert login(owner).status_code == 302
    post_form(owner, "/admin/", "/admin/logout")

    # Guessing from that browser is throttled too, on its own count.
    for n in range(3):
        assert login(owner, password=f"fel lösenord {n}").status_code == 401
    refused = login(owner)
    assert refused.status_code == 429
    assert "För många misslyckade försök" in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    "password",
    [
        "Password1234!",
        "lösenord123456",
        "qwertyuiop123",
        "passwordpassword",
        "123456789012",
        "aaaaaaaaaaaa",
        "hodan.ali@example.org",
        "Hodan2026sommar",
        "mitt namn är Hodan Ali",
    ],
)
def test_a_common_password_or_one_with_the_accounts_own_address_or_name_is_refused(app, password):
    # Twelve characters are not enough when they are the first thing anyone guesses.
    admin = logged_in(app)
    response = post_form(
        admin,
        "/admin/accounts",
        "/admin/accounts",
        email="hodan.ali@example.org",
        name="Hodan Ali",
        role="organiser",
        password=password,
    )
    assert response.status_code == 400, password
    page = response.get_data(as_text=True)
    error = re.search(r'<p[^>]*id="password-error"[^>]*>(.*?)</p>', page, re.S)
    assert error and "Lösenordet" in error.group(1), page
    with app.app_context():
        assert accounts.by_email("hodan.ali@example.org") is None


def test_a_common_new_password_is_refused_on_the_account_page_and_the_command_line(app):
    client = logged_in(app, email="amal@example.org")
    response = post_form(
        client,
        "/admin/account",
        "/admin/account/password",
        current=PASSWORD,
        password="Password1234!",
        repeat="Password1234!",
    )
    assert response.status_code == 400
    assert "för vanligt" in response.get_data(as_text=True)
    result = app.test_cli_runner().invoke(
        args=["admin", "set-password", "--email", "amal@example.org", "--password-stdin"],
        input="amal@example.org\n",
    )
    assert result.exit_code == 1 and "e-postadress eller namn" in result.output
    with app.app_context():
        assert accounts.verify_password(accounts.by_email("amal@example.org"), PASSWORD)
    # A long phrase of her own still does.
    response = post_form(
        client,
        "/admin/account",
        "/admin/account/password",
        current=PASSWORD,
        password="grön cykel under bron",
        repeat="grön cykel under bron",
    )
    assert response.status_code == 302
