"""Hypothesis drives every public form and JSON endpoint with hostile values.

Arbitrary text, bytes, oversized and malformed values, bodies and headers: the answer is
never a 500 and never shows a stack trace, and what is already stored stays.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from initiatives.extensions import db
from initiatives.models import Signature
from initiatives.tokens import Purpose, make_token

from .conftest import csrf_token

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEAKS = ("Traceback", 'File "/', "sqlalchemy.", "psycopg", "werkzeug.exceptions", "jinja2.")

texts = st.text(max_size=300)
# Bytes as the server would see them if a client sent them raw (latin-1 keeps every byte).
byte_texts = st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
oversized = st.sampled_from([5_000, 70_000, 300_000]).map(lambda n: "Å" * n)
# Values that broke real systems: NUL (PostgreSQL refuses it), encodings, injections.
NASTY = [
    "",
    "\x00",
    "a\x00b",
    "%00",
    "%ff",
    "\r\nSet-Cookie: x=1",
    "../../etc/passwd",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "\u202eevil",
    "\ufeff",
    '=HYPERLINK("http://x")',
    "y",
    "on",
    "212 14",
    "a@b.se",
    "x@" + "y" * 300 + ".se",
]
values = st.one_of(texts, byte_texts, oversized, st.sampled_from(NASTY))
header_texts = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-16",
            "multipart/form-data",
            "multipart/form-data; boundary=zzz",
            "application/json",
            "text/plain",
            "application/octet-stream",
        ]
    ),
    header_texts,
)
bodies = st.one_of(st.binary(max_size=2000), oversized.map(str.encode))
SIGN_FIELDS = [
    *("name", "email", "postcode", "resident", "consent", "src", "website", "csrf_token"),
    *("email_asked", "email_suggested"),
]


def check(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code < 500, (response.status_code, body[:500])
    for leak in LEAKS:
        assert leak not in body, (leak, body[:500])


@pytest.fixture
def world(app, client, make_initiative, sign):
    """An initiative with one signature, and what a real visitor would hold."""
    make_initiative()
    assert sign(email="first@example.org").status_code == 303
    with app.app_context():
        public_id = db.session.scalars(sa.select(Signature.public_id)).one()
        tokens = [make_token(Purpose.CONFIRM, public_id), make_token(Purpose.WITHDRAW, public_id)]
    yield {"csrf": csrf_token(client, "/i/amiralsgatan"), "tokens": tokens}
    with app.app_context():  # nothing already stored was lost
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) >= 1


def with_csrf(world, csrf: str | None) -> str:
    return world["csrf"] if csrf is None else csrf


def test_the_sign_form(client, world):
    @FUZZ
    @given(
        fields=st.dictionaries(st.sampled_from(SIGN_FIELDS) | texts, values, max_size=10),
        csrf=st.none() | values,
    )
    def run(fields, csrf):
        data = {**fields, "csrf_token": with_csrf(world, csrf)}
        check(client.post("/i/amiralsgatan/sign", data=data))

    run()


def test_raw_bodies_to_every_form(client, world):
    @FUZZ
    @given(
        path=st.sampled_from(
            ["/i/amiralsgatan/sign", "/privacy/request", *(f"/confirm/{world['tokens'][0]}",)]
        ),
        body=bodies,
        content_type=content_types,
    )
    def run(path, body, content_type):
        check(client.post(path, data=body, headers={"Content-Type": content_type}))

    run()


def test_confirm_and_withdraw_links(client, world):
    tokens = (
        st.sampled_from(world["tokens"])
        | values
        | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    )

    @FUZZ
    @given(
        kind=st.sampled_from(["confirm", "withdraw"]),
        token=tokens,
        method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
        form=st.dictionaries(texts, values, max_size=4),
        csrf=st.none() | values,
    )
    def run(kind, token, method, form, csrf):
        path = f"/{kind}/{quote(token, safe='')}"
        data = {**form, "csrf_token": with_csrf(world, csrf)} if method == "POST" else None
        check(client.open(path, method=method, data=data))

    run()


def test_the_data_request_form(client, world):
    @FUZZ
    @given(
        fields=st.dictionaries(
            st.sampled_from(["email", "website", "csrf_token"]) | texts, values, max_size=5
        ),
        csrf=st.none() | values,
    )
    def run(fields, csrf):
        data = {**fields, "csrf_token": with_csrf(world, csrf)}
        check(client.post("/privacy/request", data=data))

    run()


@pytest.mark.parametrize(
    "template",
    [
        "/i/{x}",
        "/i/{x}/thanks",
        "/i/{x}/sign",
        "/i/amiralsgatan?src={x}",
        "/api/initiatives/{x}",
        "/api/initiatives?{x}",
        "/i/{x}/qr.svg",
        "/i/amiralsgatan/qr.png?size={x}",
        "/i/amiralsgatan/qr.svg?src={x}",
        "/i/amiralsgatan/flyer.pdf?sheet={x}",
        "/lang/{x}",
        "/lang/en?next={x}",
        "/privacy/request?{x}",
        "/{x}",
    ],
)
def test_public_pages_and_json_with_hostile_paths_queries_and_headers(client, world, template):
    @settings(FUZZ, max_examples=40)
    @given(x=values, accept_language=header_texts, lang_cookie=header_texts, etag=header_texts)
    def run(x, accept_language, lang_cookie, etag):
        path = template.format(x=quote(x[:20_000], safe=""))
        client.set_cookie("lang", lang_cookie)
        headers = {"Accept-Language": accept_language, "If-None-Match": etag}
        check(client.get(path, headers=headers))

    run()
    client.delete_cookie("lang")


def test_json_endpoints_refuse_writes_cleanly(client, world):
    @FUZZ
    @given(
        path=st.sampled_from(["/api/initiatives", "/api/initiatives/amiralsgatan", "/healthz"]),
        method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
        body=bodies,
        content_type=content_types,
    )
    def run(path, method, body, content_type):
        response = client.open(
            path, method=method, data=body, headers={"Content-Type": content_type}
        )
        check(response)
        if path.startswith("/api/") and response.status_code == 405:
            assert response.is_json and response.get_json()["error"] == 405

    run()
