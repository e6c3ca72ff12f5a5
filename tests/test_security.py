"""Security headers on every public page type, cookies, and the body-size limit."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.models import InitiativeState, Signature
from initiatives.tokens import Purpose, make_token

from .conftest import csrf_token, sign_form

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def pages(app, client, make_initiative, sign) -> dict[str, tuple[str, str, dict, int]]:
    """(method, path, data, expected status) for one page of every public type."""
    make_initiative()
    make_initiative("stangd", state=InitiativeState.CLOSED)
    sign(email="amira@example.org")
    with app.app_context():
        public_id = db.session.scalars(sa.select(Signature.public_id)).one()
        confirm = make_token(Purpose.CONFIRM, public_id)
        withdraw = make_token(Purpose.WITHDRAW, public_id)
    token = csrf_token(client, "/i/amiralsgatan")
    return {
        "home": ("GET", "/", {}, 200),
        "initiative": ("GET", "/i/amiralsgatan", {}, 200),
        "sign form errors": ("POST", "/i/amiralsgatan/sign", {"csrf_token": token}, 400),
        "check email": ("GET", "/i/amiralsgatan/thanks", {}, 200),
        "closed initiative": ("POST", "/i/stangd/sign", {"csrf_token": token}, 409),
        "confirm (token)": ("GET", f"/confirm/{confirm}", {}, 200),
        "withdraw (token)": ("GET", f"/withdraw/{withdraw}", {}, 200),
        "bad token": ("GET", "/confirm/not-a-token", {}, 400),
        "privacy notice": ("GET", "/privacy", {}, 200),
        "data request": ("GET", "/privacy/request", {}, 200),
        "data request sent": ("GET", "/privacy/request/sent", {}, 200),
        "accessibility": ("GET", "/accessibility", {}, 200),
        "language switch": ("GET", "/lang/en?next=/privacy", {}, 303),
        "not found": ("GET", "/i/finns-inte", {}, 404),
        "wrong method": ("PUT", "/i/amiralsgatan/sign", {}, 405),
        "csrf failure": ("POST", "/i/amiralsgatan/sign", {}, 400),
        "too large": ("POST", "/i/amiralsgatan/sign", {"name": "x" * 70_000}, 413),
        "qr code (svg)": ("GET", "/i/amiralsgatan/qr.svg", {}, 200),
        "qr code (png)": ("GET", "/i/amiralsgatan/qr.png?size=200", {}, 200),
        "qr refused": ("GET", "/i/amiralsgatan/qr.png?size=abc", {}, 400),
        "poster (pdf)": ("GET", "/i/amiralsgatan/poster.pdf", {}, 200),
        "api list": ("GET", "/api/initiatives", {}, 200),
        "api one": ("GET", "/api/initiatives/amiralsgatan", {}, 200),
        "api not found": ("GET", "/api/initiatives/finns-inte", {}, 404),
        "health": ("GET", "/healthz", {}, 200),
        "stylesheet": ("GET", "/static/css/site.css", {}, 200),
        "script": ("GET", "/static/js/site.js", {}, 200),
    }


def request(client, method: str, path: str, data: dict, **kwargs):
    response = client.open(path, method=method, data=data or None, **kwargs)
    response.get_data()
    response.close()  # static files are streamed from an open file
    return response


def test_every_public_page_type_carries_the_security_headers(client, pages):
    for name, (method, path, data, status) in pages.items():
        response = request(client, method, path, data)
        assert response.status_code == status, name
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp, name
        assert "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert not re.search(r"https?:|\*", csp), f"{name}: third-party origin in CSP"
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("X-Frame-Options") == "DENY", name
        assert headers.get("Referrer-Policy") == "no-referrer", name
        assert "camera=()" in headers.get("Permissions-Policy", ""), name
        assert "geolocation=()" in headers.get("Permissions-Policy", ""), name
        # Plain http here: no HSTS (it would pin a name that may not have TLS).
        assert "Strict-Transport-Security" not in headers, name
        if not path.startswith(("/static/", "/api/")) and "/qr." not in path and ".pdf" not in path:
            assert headers.get("Cache-Control") == "no-store", name


def test_token_pages_never_leak_their_url(client, pages):
    for name in ("confirm (token)", "withdraw (token)"):
        _method, path, _data, _status = pages[name]
        response = client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        # Nothing on the page loads from elsewhere (a Referer would carry the token).
        html = response.get_data(as_text=True)
        assert not re.search(r'(src|href)="https?://', html), name


def test_hsts_behind_https_only_from_a_trusted_proxy(make_app, make_initiative, pages):
    trusting = make_app(TRUSTED_PROXIES=1, BASE_URL="https://initiativ.example.org")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    for _name, (method, path, data, _status) in pages.items():
        response = request(trusting.test_client(), method, path, data, headers=forwarded)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    # Without a trusted proxy the same header is only a client's claim.
    plain = make_app(TRUSTED_PROXIES=0)
    response = plain.test_client().get("/", headers=forwarded)
    assert "Strict-Transport-Security" not in response.headers
    # A real https request (no proxy) gets it too.
    assert (
        "Strict-Transport-Security"
        in plain.test_client().get("/", base_url="https://localhost").headers
    )


def cookies_of(response) -> dict[str, SimpleCookie]:
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            found[name] = (morsel, header)
    return found


def test_cookies_are_httponly_samesite_and_secure_behind_https(make_app, make_initiative):
    app = make_app(TRUSTED_PROXIES=1, BASE_URL="https://initiativ.example.org")
    make_initiative()
    client = app.test_client()
    https = {"X-Forwarded-Proto": "https"}
    session = cookies_of(client.get("/i/amiralsgatan", headers=https))
    lang = cookies_of(client.get("/lang/en", headers=https))
    for name, (morsel, header) in {**session, **lang}.items():
        assert morsel["httponly"], name
        assert morsel["samesite"] == "Lax", name
        assert morsel["secure"], f"{name} not Secure behind https: {header}"
    assert "initiatives_session" in session and "lang" in lang


def test_cookies_are_not_secure_on_plain_http_development(client, make_initiative):
    make_initiative()
    session = cookies_of(client.get("/i/amiralsgatan"))
    morsel, _header = session["initiatives_session"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and not morsel["secure"]


def test_a_body_over_the_limit_gets_413_and_stores_nothing(make_app, make_initiative):
    app = make_app(MAX_CONTENT_LENGTH=4096)
    make_initiative()
    client = app.test_client()
    data = sign_form(name="A" * 5000)
    data["csrf_token"] = csrf_token(client, "/i/amiralsgatan")
    response = client.post("/i/amiralsgatan/sign", data=data)
    assert response.status_code == 413
    assert "för stort" in response.get_data(as_text=True)
    response = client.post(
        "/privacy/request", data=b"x" * 5000, content_type="application/octet-stream"
    )
    assert response.status_code == 413
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) == 0


def test_templates_have_no_inline_script_style_or_handlers():
    """The CSP forbids inline code; email templates are not served as pages."""
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.parts:
            continue
        text = path.read_text("utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert "<style" not in text and " style=" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path


def test_forms_work_over_https_without_a_referer(app, make_initiative):
    """Token pages send no Referer (no-referrer): their forms must still post over https."""
    from .conftest import CSRF_RE, sign_form

    make_initiative()
    https = app.test_client()
    page = https.get("/i/amiralsgatan", base_url="https://localhost")
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    response = https.post(
        "/i/amiralsgatan/sign",
        data={**sign_form(), "csrf_token": token},
        base_url="https://localhost",
    )
    assert response.status_code == 303
    assert "Referer" not in response.request.headers


def test_sessions_follow_a_secret_key_rotation(app, client, make_initiative):
    """The session's signer is kept between requests, but not across a key change: after
    SECRET_KEY moves to SECRET_KEY_FALLBACKS, old cookies still open and new ones are
    signed with the new key."""
    make_initiative()
    client.get("/i/amiralsgatan")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    old_key = app.secret_key
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    app.secret_key = "a-new-key-for-the-rotation-test-" + "x" * 16
    with client.session_transaction() as session:
        assert session["csrf_token"] == token  # the old cookie, read with the fallback
        session["probe"] = "signed with the new key"
    app.config["SECRET_KEY_FALLBACKS"] = []
    with client.session_transaction() as session:
        assert session["csrf_token"] == token and session["probe"] == "signed with the new key"
    app.secret_key = old_key  # the cookie now carries a signature the app cannot check
    with client.session_transaction() as session:
        assert "csrf_token" not in session


def test_a_form_opened_before_a_secret_key_rotation_is_still_accepted(
    app, make_app, make_initiative
):
    """A phone may hold the sign form open for hours: restarting with SECRET_KEY moved to
    SECRET_KEY_FALLBACKS must not refuse it (nor an organiser's open form)."""
    make_initiative()
    before = app.test_client()
    token = csrf_token(before, "/i/amiralsgatan")
    session_cookie = before.get_cookie("initiatives_session")
    old_key = app.config["SECRET_KEY"]
    rotated = make_app(
        SECRET_KEY="a-new-key-for-the-rotation-test-" + "x" * 16, SECRET_KEY_FALLBACKS=[old_key]
    )
    after = rotated.test_client()
    after.set_cookie("initiatives_session", session_cookie.value)
    response = after.post("/i/amiralsgatan/sign", data=sign_form(csrf_token=token))
    assert response.status_code == 303, response.get_data(as_text=True)
    with rotated.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) == 1
    # A new visitor's form is signed with the new key: it passes once the fallback is gone.
    newcomer = rotated.test_client()
    fresh = csrf_token(newcomer, "/i/amiralsgatan")
    plain = make_app(SECRET_KEY="a-new-key-for-the-rotation-test-" + "x" * 16).test_client()
    plain.set_cookie("initiatives_session", newcomer.get_cookie("initiatives_session").value)
    second = plain.post(
        "/i/amiralsgatan/sign", data=sign_form(csrf_token=fresh, email="zainab@example.org")
    )
    assert second.status_code == 303, second.get_data(as_text=True)


def test_links_already_mailed_and_tablets_follow_a_secret_key_rotation(app, make_initiative, sign):
    """A withdrawal link lives in a signer's mail until the list is handed in, a
    tablet's cookie for months: moving SECRET_KEY to SECRET_KEY_FALLBACKS keeps both
    working."""
    from initiatives.tokens import Purpose, TokenError, make_token, read_token

    make_initiative()
    with app.app_context():
        link = make_token(Purpose.WITHDRAW, "f" * 32)
    old_key = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "a-new-key-for-the-rotation-test-" + "x" * 16
    with app.app_context():
        with pytest.raises(TokenError):
            read_token(Purpose.WITHDRAW, link)  # without the fallback: refused
        app.config["SECRET_KEY_FALLBACKS"] = [old_key]
        assert read_token(Purpose.WITHDRAW, link) == "f" * 32
        fresh = make_token(Purpose.WITHDRAW, "e" * 32)
        app.config["SECRET_KEY_FALLBACKS"] = []
        assert read_token(Purpose.WITHDRAW, fresh) == "e" * 32  # new ones: the new key


def test_links_in_the_public_json_come_from_base_url_never_the_host_header(
    make_app, make_initiative
):
    """The counts JSON is kept for everyone (in each worker, and by any CDN): a request
    with a forged Host (or X-Forwarded-Host) must not put another site's address in the
    link to the committee's answer that every partner page then shows."""
    from initiatives import clock
    from initiatives.lifecycle import AnswerDocument
    from initiatives.models import Initiative

    app = make_app(TRUSTED_PROXIES=1, BASE_URL="https://initiativ.example.org")
    make_initiative(state=InitiativeState.ANSWERED, answered_at=clock.utcnow())
    with app.app_context():
        initiative_id = db.session.scalar(sa.select(Initiative.id))
        db.session.add(
            AnswerDocument(
                initiative_id=initiative_id,
                filename="svar.pdf",
                content=b"%PDF-1.4\n%%EOF\n",
                sha256="0" * 64,
                uploaded_by="samira@example.org",
            )
        )
        db.session.commit()
    expected = "https://initiativ.example.org/i/amiralsgatan/answer.pdf"
    forged = ({"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}, {})
    for headers in forged:
        client = app.test_client()
        listing = client.get("/api/initiatives", headers=headers).get_json()
        detail = client.get("/api/initiatives/amiralsgatan", headers=headers).get_json()
        assert listing["initiatives"][0]["answer_pdf"] == expected, headers
        assert detail["answer_pdf"] == expected, headers
