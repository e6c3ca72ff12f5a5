"""The floor: the least the sign and confirm flows can cost on the project's own stack.

The hello ceiling measures gunicorn and Flask with nothing to do.  This app measures what
the issue's two write flows cannot do without, on the libraries the project must use
(Flask and its signed-cookie session, Flask-WTF, WTForms with email-validator,
Flask-SQLAlchemy, itsdangerous): the same requests as the real flows, at the same URLs,
with the same form fields, driven by the same clients (``bench/flows.py``).

Signing:

- the page: fixed HTML with the visitor's CSRF token put in (Flask-WTF's
  ``generate_csrf``, which puts the token in a new session cookie);
- the POST: the session read, the CSRF token checked, the fields validated (the address
  with email-validator, no DNS), one row inserted (a Core INSERT) and committed, a 303;
- the thank-you page: fixed HTML.

Confirming (a link's token is an itsdangerous signature of the row's id):

- the link's page: the token checked, the row read by its id, fixed HTML with the CSRF
  token put in;
- the POST: the CSRF token and the link's token checked, one UPDATE committed, a 303;
- the result page: the token checked, the row read, fixed HTML.

Nothing else: no encryption of the personal fields, no blind index or duplicate check,
no confirmation mail in the outbox, no counter, no languages, no security or caching
headers, no templates.  Whatever the real app costs beyond this floor is the cost of
what DESIGN.md asks of it; what the floor itself costs, no app on this stack avoids.

The database is the benchmark target's own (a table of its own, ``floor_signatures``),
with the same SQLite settings as the app (WAL, ``synchronous=NORMAL``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, abort, redirect
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.wrappers import Response
from wtforms import BooleanField, EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Email, Length

SLUG = "amiralsgatan"
LINK_SALT = "floor-confirm"
LINK_MAX_AGE = 14 * 24 * 3600


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class FloorSignature(db.Model):
    __tablename__ = "floor_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80))
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(320))
    postcode: Mapped[str] = mapped_column(sa.String(10))
    source: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class SignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email = EmailField(
        "Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=320)]
    )
    postcode = StringField("Postcode", validators=[DataRequired(), Length(max=10)])
    resident = BooleanField("I live here", validators=[DataRequired()])
    consent = BooleanField("I agree", validators=[DataRequired()])
    src = HiddenField()
    website = StringField("Website")


class ButtonForm(FlaskForm):
    """The confirmation page's button: its CSRF token only."""


HEAD = '<!doctype html>\n<html lang="sv"><head><meta charset="utf-8"><title>{title}</title>'
# A placeholder for the visitor's CSRF token, not a password.
TOKEN = '<input id="csrf_token" name="csrf_token" type="hidden" value="{token}">'  # noqa: S105

# The pages as plain HTML with the visitor's CSRF token put in: no template, no widgets
# (the real app, too, serves these pages from a cache and puts only the tokens in).
PAGE = (
    HEAD.format(title="Amiralsgatan")
    + f"""</head>
<body><main><h1>Amiralsgatan</h1>
<form method="post" action="/i/{SLUG}/sign">
{TOKEN}
<label for="name">Namn</label> <input id="name" name="name" autocomplete="name" required>
<label for="email">E-post</label> <input id="email" name="email" type="email" required>
<label for="postcode">Postnummer</label> <input id="postcode" name="postcode" required>
<input id="resident" name="resident" type="checkbox" value="y" required>
<label for="resident">Jag bor i Malmö</label>
<input id="consent" name="consent" type="checkbox" value="y" required>
<label for="consent">Jag samtycker</label>
<input name="src" type="hidden" value=""> <input name="website" value="">
<button>Skriv under</button>
</form></main></body></html>
"""
)

THANKS = (
    HEAD.format(title="Tack")
    + """</head>
<body><main><h1>Tack! Titta i din e-post.</h1></main></body></html>
"""
)

CONFIRM_PAGE = (
    HEAD.format(title="Bekräfta")
    + f"""</head>
<body><main><h1>Bekräfta din underskrift</h1>
<form method="post">{TOKEN}<button>Bekräfta</button></form></main></body></html>
"""
)

CONFIRMED_PAGE = (
    HEAD.format(title="Bekräftad")
    + """</head>
<body><main><p class="panel-success">Din underskrift räknas.</p></main></body></html>
"""
)


def _engine_url(database_url: str) -> str:
    # The driver names PostgreSQL as the app's settings do; SQLAlchemy needs the driver.
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


def links(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=LINK_SALT)


def create_app(database_url: str) -> Flask:
    database_url = _engine_url(database_url)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ["SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=database_url,
    )
    db.init_app(app)
    if database_url.startswith("sqlite"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_settings)
    serializer = links(app.config["SECRET_KEY"])

    def linked(token: str) -> FloorSignature:
        try:
            signature_id = serializer.loads(token, max_age=LINK_MAX_AGE)
        except BadSignature:
            abort(400)
        signature = db.session.get(FloorSignature, signature_id)
        if signature is None:
            abort(410)
        return signature

    @app.get("/i/<slug>")
    def page(slug: str) -> str:
        return PAGE.format(token=generate_csrf())

    @app.post("/i/<slug>/sign")
    def sign(slug: str) -> Response | tuple[str, int]:
        form = SignForm()
        if not form.validate_on_submit():
            return "Refused: " + ", ".join(form.errors), 400
        # A Core INSERT, as the app's own (cheaper than an ORM object and its flush).
        db.session.execute(
            sa.insert(FloorSignature).values(
                slug=slug,
                name=form.name.data,
                email=form.email.data,
                postcode=form.postcode.data,
                source=form.src.data or None,
                created_at=datetime.now(UTC),
            )
        )
        db.session.commit()
        return redirect(f"/i/{slug}/thanks", code=303)

    @app.get("/i/<slug>/thanks")
    def thanks(slug: str) -> str:
        return THANKS

    @app.get("/confirm/<token>")
    def confirm_page(token: str) -> str:
        linked(token)
        return CONFIRM_PAGE.format(token=generate_csrf())

    @app.post("/confirm/<token>")
    def confirm(token: str) -> Response | tuple[str, int]:
        if not ButtonForm().validate_on_submit():
            return "Refused", 400
        signature = linked(token)
        db.session.execute(
            sa.update(FloorSignature)
            .where(FloorSignature.id == signature.id, FloorSignature.confirmed_at.is_(None))
            .values(confirmed_at=datetime.now(UTC))
        )
        db.session.commit()
        return redirect(f"/confirm/{token}/done", code=303)

    @app.get("/confirm/<token>/done")
    def confirmed(token: str) -> str:
        if linked(token).confirmed_at is None:
            abort(409)
        return CONFIRMED_PAGE

    @app.get("/floor-health")
    def health() -> str:
        return "ok"

    return app


def _sqlite_settings(connection, _record) -> None:  # noqa: ANN001 (DB-API connection)
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine(database_url: str) -> sa.Engine:
    return sa.create_engine(_engine_url(database_url))


def create_tables(database_url: str) -> None:
    """Make the floor's table in the target's database (once, before gunicorn starts)."""
    engine = _engine(database_url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def counts(database_url: str) -> tuple[int, int]:
    """How many rows the floor stored, and how many of them are confirmed (the driver
    checks them against the flows run)."""
    engine = _engine(database_url)
    try:
        with engine.connect() as connection:
            stored = connection.scalar(sa.select(sa.func.count()).select_from(FloorSignature))
            confirmed = connection.scalar(
                sa.select(sa.func.count()).where(FloorSignature.confirmed_at.is_not(None))
            )
            return stored, confirmed
    finally:
        engine.dispose()


def confirmation_tokens(database_url: str, secret_key: str, wanted: int) -> list[str]:
    """Link tokens for ``wanted`` unconfirmed rows, inserting rows if there are fewer."""
    engine = _engine(database_url)
    table = FloorSignature.__table__
    try:
        with engine.begin() as connection:
            ids = list(
                connection.scalars(
                    sa.select(table.c.id).where(table.c.confirmed_at.is_(None)).limit(wanted)
                )
            )
            missing = wanted - len(ids)
            if missing > 0:
                now = datetime.now(UTC)
                rows = [
                    {
                        "slug": SLUG,
                        "name": "Bänk Testsson",
                        "email": f"floor-topup-{i}@example.org",
                        "postcode": "212 14",
                        "created_at": now,
                    }
                    for i in range(missing)
                ]
                connection.execute(sa.insert(table), rows)
                ids = list(
                    connection.scalars(
                        sa.select(table.c.id).where(table.c.confirmed_at.is_(None)).limit(wanted)
                    )
                )
    finally:
        engine.dispose()
    serializer = links(secret_key)
    return [serializer.dumps(signature_id) for signature_id in ids]


def wsgi() -> Flask:
    """gunicorn's ``bench.floor:wsgi()``: the app on the database the driver names."""
    return create_app(os.environ["FLOOR_DATABASE_URL"])
