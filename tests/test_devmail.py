"""The development mailbox: mail without SMTP, only in development."""

from __future__ import annotations

from pathlib import Path

from initiatives import create_app, outbox
from initiatives.extensions import db
from initiatives.mail import compose

from .conftest import TEST_DATA_KEY, TEST_SECRET_KEY, csrf_token, sign_form


def test_newcomer_sees_the_confirmation_mail_in_the_mailbox_and_can_click_it(tmp_path: Path):
    app = create_app(
        {
            "APP_ENV": "development",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": TEST_SECRET_KEY,
            "DATA_KEY": TEST_DATA_KEY,
            "BASE_URL": "http://127.0.0.1:5000",
        }
    )
    from initiatives.demo import load_examples

    with app.app_context():
        db.create_all()
        load_examples()
        db.session.commit()
    client = app.test_client()
    data = sign_form(email="newcomer@example.org")
    data["csrf_token"] = csrf_token(client, "/i/amiralsgatan")
    assert client.post("/i/amiralsgatan/sign", data=data).status_code == 303

    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 1
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1

    index = client.get("/dev/mail/").get_data(as_text=True)
    assert "newcomer@example.org" in index
    message = client.get(f"/dev/mail/{files[0].name}").get_data(as_text=True)
    assert 'href="http://127.0.0.1:5000/confirm/' in message
    assert client.get("/dev/mail/../../etc/passwd").status_code == 404


def test_mailbox_does_not_exist_outside_development(client):
    assert client.get("/dev/mail/").status_code == 404
