"""Bad input gets a clear message and a 4xx, never a 500, and nothing stored is lost."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.models import Signature
from initiatives.tokens import Purpose, make_token

from .conftest import csrf_token, sign_form


def stored(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Signature.id)))


@pytest.fixture
def one_signature(app, make_initiative, sign) -> None:
    """Something already stored that bad requests must not disturb."""
    make_initiative()
    assert sign(email="first@example.org").status_code == 303
    assert stored(app) == 1


def post(client, **fields):
    data = sign_form(**fields)
    data["csrf_token"] = csrf_token(client, "/i/amiralsgatan")
    return client.post("/i/amiralsgatan/sign", data={k: v for k, v in data.items() if v != ""})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Skriv ditt namn."),
        ({"email": ""}, "Skriv din e-postadress."),
        ({"email": "not-an-address"}, "Skriv en giltig e-postadress"),
        ({"email": "a@b@c.se"}, "Skriv en giltig e-postadress"),
        ({"postcode": "2121"}, "Skriv postnumret som fem siffror"),
        ({"postcode": "ABC DE"}, "Skriv postnumret som fem siffror"),
        ({"resident": ""}, "folkbokförd i Malmö"),
        ({"consent": ""}, "ditt samtycke"),
        ({"name": "Amira\x00Hassan"}, "tecken som inte är tillåtna"),
        ({"name": "x" * 201}, "högst 200 tecken"),
        # Only invisible direction marks: nothing is left of the name once they are out.
        ({"name": "\u202e\u200f\u2069"}, "Skriv ditt namn."),
    ],
)
def test_invalid_fields_are_explained_next_to_the_field_and_at_the_top(
    app, client, one_signature, fields, message
):
    response = post(client, **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'class="error-summary"' in html
    assert html.count(message) >= 2  # in the summary and next to the field
    assert stored(app) == 1


def test_a_one_megabyte_name_is_refused_with_413(app, client, one_signature):
    response = post(client, name="A" * 1_000_000)
    assert response.status_code == 413
    assert "för stort" in response.get_data(as_text=True)
    assert stored(app) == 1


def test_a_long_name_of_letters_and_dots_is_refused_for_its_length_at_once(
    app, client, one_signature
):
    """Within the request's size limit, but far over the name's: the address check
    (whose cost grows with the square of such a run) is not run on it."""
    started = time.perf_counter()
    response = post(client, name="a." * 30_000)
    assert time.perf_counter() - started < 5  # searched, it took minutes
    assert response.status_code == 400
    assert "högst 200 tecken" in response.get_data(as_text=True)
    assert stored(app) == 1


# "Menade du …?" (email_typos): two fields only our own page fills in, the address asked
# about and the value of the suggestion's button.
QUESTION = 'Menade du <span dir="ltr">amira@gmail.com</span>?'


@pytest.mark.parametrize("asked", ["a" * 300, "\x00", "amira@gmial.com\x00", "\ufffd"])
def test_a_forged_address_asked_about_counts_as_not_asked(app, client, one_signature, asked):
    """It only remembers that the address was asked about: a value no page sends (too
    long, a control character) means that nothing was asked, not a 400 naming nothing
    (it is a hidden field, which no message points to)."""
    response = post(client, email="amira@gmial.com", email_asked=asked)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert QUESTION in html
    assert 'name="email_asked" type="hidden" value="amira@gmial.com"' in html
    assert post(client, email="amira2@example.org", email_asked=asked).status_code == 303
    assert stored(app) == 2


def test_a_forged_suggestion_is_checked_as_the_address_or_left_aside(app, client, one_signature):
    """Taken (the address typed is the one asked about), the button's value is the
    address and gets its checks and messages; else it is not looked at, as after the
    signer changed the address.  Never a message of its own linking to no field."""
    taken = post(
        client, email="amira@gmial.com", email_asked="amira@gmial.com", email_suggested="a" * 300
    )
    assert taken.status_code == 400
    html = taken.get_data(as_text=True)
    assert html.count("E-postadressen får vara högst 254 tecken.") >= 2
    assert "#email_suggested" not in html
    assert post(client, email="amira2@example.org", email_suggested="a" * 300).status_code == 303
    assert stored(app) == 2


def test_a_made_up_campaign_tag_of_any_length_is_not_recorded_and_not_refused(
    app, client, one_signature
):
    """``?src=`` is copied into the form: a made-up value is simply not recorded (the
    tags are the initiative's own).  One over 32 characters got a bare 400 whose error
    was on a hidden field, shown nowhere."""
    assert post(client, email="amira2@example.org", src="x" * 300).status_code == 303
    with app.app_context():
        tags = db.session.scalars(sa.select(Signature.source_tag)).all()
    assert stored(app) == 2 and set(tags) == {None}


@pytest.mark.parametrize("name", [b"%FF%FE%FDAmira", b"\xff\xfeAmira", b"Ami%C3ra"])
def test_invalid_utf8_is_refused(app, client, one_signature, name):
    token = csrf_token(client, "/i/amiralsgatan")
    body = (
        b"csrf_token=" + token.encode() + b"&name=" + name + b"&email=amira2%40example.org"
        b"&resident=y&consent=y"
    )
    response = client.post(
        "/i/amiralsgatan/sign", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "tecken som inte gick att läsa" in response.get_data(as_text=True)
    assert stored(app) == 1


JSON_BODIES = {
    "a whole form": {"name": "A B", "email": "json@example.org", "resident": "y", "consent": "y"},
    "a number as the name": {"name": 1, "email": "a@example.org", "resident": "y", "consent": "y"},
    "a number as the email": {"name": "A", "email": 7, "resident": "y", "consent": "y"},
    "a lone surrogate": {"name": "\ud800", "email": "a@example.org", "resident": "y"},
    "a bare string": "hello",
    "a bare number": 5,
}


@pytest.mark.parametrize("body", JSON_BODIES.values(), ids=JSON_BODIES)
def test_a_json_body_with_the_csrf_token_in_a_header_is_refused_with_415(
    app, client, one_signature, body
):
    """Flask-WTF would read JSON as the form (the token in X-CSRFToken): values no form
    can send, a number or a lone surrogate, then reached the domain code as a 500."""
    headers = {"X-CSRFToken": csrf_token(client, "/i/amiralsgatan")}
    response = client.post("/i/amiralsgatan/sign", json=body, headers=headers)
    assert response.status_code == 415
    assert "Vi kunde inte förstå det som skickades" in response.get_data(as_text=True)
    with app.app_context():
        public_id = db.session.scalars(sa.select(Signature.public_id)).one()
        confirm = f"/confirm/{make_token(Purpose.CONFIRM, public_id)}"
    headers = {"X-CSRFToken": csrf_token(client, confirm)}
    assert client.post(confirm, json=body, headers=headers).status_code == 415
    assert stored(app) == 1
    with app.app_context():
        assert db.session.scalars(sa.select(Signature.state)).one() == "pending"


def test_binary_multipart_body_is_refused(app, client, one_signature):
    token = csrf_token(client, "/i/amiralsgatan")
    response = client.post(
        "/i/amiralsgatan/sign",
        data={"csrf_token": token, "name": "\x00\x01\x02\xff", "email": "\x00@\x00"},
    )
    assert response.status_code == 400
    assert stored(app) == 1


def test_missing_csrf_token_is_refused(app, client, one_signature):
    response = client.post("/i/amiralsgatan/sign", data=sign_form(email="x@example.org"))
    assert response.status_code == 400
    # The form comes back with what was typed (see test_signing), not an error page.
    page = response.get_data(as_text=True)
    assert "Formuläret hade gått ut" in page and 'value="x@example.org"' in page
    assert stored(app) == 1


def test_forged_csrf_token_is_refused(app, client, one_signature):
    csrf_token(client, "/i/amiralsgatan")
    response = client.post(
        "/i/amiralsgatan/sign",
        data={**sign_form(email="x@example.org"), "csrf_token": "forged.token.value"},
    )
    assert response.status_code == 400
    assert stored(app) == 1


@pytest.mark.parametrize("path", ["/confirm/", "/withdraw/"])
def test_forged_tokens_get_a_clear_page(client, one_signature, path):
    for token in ["abc", "x" * 500, "eyJhbGciOi.forged.sig", "%00%ff"]:
        response = client.get(path + token)
        assert response.status_code in (400, 404), token
        if response.status_code == 400:
            assert "Länken är inte giltig" in response.get_data(as_text=True)


def test_token_for_one_purpose_is_not_accepted_for_another(app, client, one_signature):
    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
        withdraw_token = make_token(Purpose.WITHDRAW, signature.public_id)
    response = client.get(f"/confirm/{withdraw_token}")
    assert response.status_code == 400


def test_expired_confirmation_token_explains_what_to_do(app, client, one_signature, monkeypatch):
    import itsdangerous.timed

    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
        token = make_token(Purpose.CONFIRM, signature.public_id)
    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 30 * 86400)
    response = client.get(f"/confirm/{token}")
    assert response.status_code == 410
    assert "Länken har gått ut" in response.get_data(as_text=True)
    assert "Skriv under igen" in response.get_data(as_text=True)


def test_confirm_post_without_csrf_is_refused_and_changes_nothing(app, client, one_signature):
    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
        token = make_token(Purpose.CONFIRM, signature.public_id)
    response = client.post(f"/confirm/{token}", data={})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(sa.select(Signature)).one().state == "pending"


def test_unknown_initiative_is_404_with_a_page(client, one_signature):
    response = client.get("/i/finns-inte")
    assert response.status_code == 404
    assert "Sidan finns inte" in response.get_data(as_text=True)
    assert client.post("/i/finns-inte/sign", data={}).status_code in (400, 404)
    assert client.get("/i/" + "x" * 5000).status_code == 404


def test_wrong_method_is_405_not_500(client, one_signature):
    assert client.put("/i/amiralsgatan/sign").status_code == 405
    assert client.delete("/api/initiatives").status_code == 405
