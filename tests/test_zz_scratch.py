import sqlalchemy as sa
from initiatives.extensions import db
from .admin_helpers import logged_in
from .conftest import csrf_token

def show(name, r):
    h = r.headers
    print(name, r.status_code, "CSP" if h.get("Content-Security-Policy") else "-noCSP", h.get("Referrer-Policy"), h.get("Cache-Control"), h.get("X-Frame-Options"), h.get("Strict-Transport-Security"))

def test_headers(make_app, make_initiative, sign):
    app = make_app(SIGN_RATE_LIMIT="1 per minute")
    make_initiative()
    c = app.test_client()
    @app.get("/boom")
    def boom():
        raise RuntimeError("x")
    show("500", c.get("/boom"))
    show("head", c.head("/i/amiralsgatan"))
    show("options api", c.options("/api/initiatives"))
    show("kiosk", c.get("/kiosk"))
    show("kiosk 404", c.get("/kiosk/enrol/abc"))
    show("static 404", c.get("/static/nope.css"))
    admin = logged_in(app)
    show("admin", admin.get("/admin/"))
    show("admin pack", admin.get("/admin/initiatives/amiralsgatan/pack"))
    show("devmail", c.get("/dev/mail/"))
    show("https 500", c.get("/boom", base_url="https://localhost"))
    show("https admin", admin.get("/admin/", base_url="https://localhost"))
