"""A DATA_KEY that does not read the stored data is caught before it does harm.

Restored next to the wrong key, the site would look healthy while the duplicate check
missed every earlier signature (its blind index is keyed by DATA_KEY) and the outbox
worker gave up every queued confirmation link it could not decrypt.
"""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import Fernet

from initiatives import keycheck, outbox
from initiatives.extensions import db
from initiatives.mail import compose
from initiatives.models import OutboxMessage, OutboxStatus, Signature

from .conftest import TEST_DATA_KEY, csrf_token, sign_form
from .privacy_support import Spec, add_signatures

WRONG_KEY = Fernet.generate_key().decode()
PEOPLE = [Spec(f"person{i}@example.org", f"Person {i}", postcode="212 14") for i in range(3)]


def outbox_rows(app) -> list[tuple[int, OutboxStatus, int]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts).order_by(
                OutboxMessage.id
            )
        ).all()
        return [tuple(row) for row in rows]


def test_the_right_key_and_an_empty_database_pass(make_app, make_initiative):
    app = make_app(DATA_KEY=TEST_DATA_KEY)
    empty = app.test_cli_runner().invoke(args=["check-keys"])
    assert empty.exit_code == 0 and "nothing encrypted is stored yet" in empty.output
    make_initiative()
    add_signatures(app, "amiralsgatan", PEOPLE)
    result = app.test_cli_runner().invoke(args=["check-keys"])
    assert result.exit_code == 0, result.output
    assert "DATA_KEY reads the stored data" in result.output
    assert app.test_client().get("/healthz").get_json() == {
        "status": "ok",
        "database": "ok",
        "data_key": "ok",
    }


def test_a_wrong_key_is_reported_by_the_cli_and_health_check(make_app, make_initiative):
    make_initiative()
    add_signatures(make_app(DATA_KEY=TEST_DATA_KEY), "amiralsgatan", PEOPLE)

    wrong = make_app(DATA_KEY=WRONG_KEY)
    result = wrong.test_cli_runner().invoke(args=["check-keys"])
    assert result.exit_code == 1
    assert "DATA_KEY cannot decrypt data stored in this database" in result.output
    assert (
        "signatures.email_enc #" in result.output
        and "outbox_messages.payload_enc #" in result.output
    )
    assert "@" not in result.output.split("Unreadable:")[1]  # row numbers, never data
    health = wrong.test_client().get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["data_key"] == "unreadable"


def test_during_a_rotation_new_and_old_keys_together_pass(make_app, make_initiative):
    make_initiative()
    add_signatures(make_app(DATA_KEY=TEST_DATA_KEY), "amiralsgatan", PEOPLE[:2])
    both = make_app(DATA_KEY=f"{WRONG_KEY},{TEST_DATA_KEY}")
    add_signatures(both, "amiralsgatan", PEOPLE[2:])
    assert both.test_cli_runner().invoke(args=["check-keys"]).exit_code == 0
    # The old key taken out before rotate-data-key ran: the oldest rows no longer read.
    too_early = make_app(DATA_KEY=WRONG_KEY)
    result = too_early.test_cli_runner().invoke(args=["check-keys"])
    assert result.exit_code == 1, result.output


def test_a_worker_with_the_wrong_key_gives_up_no_mail(make_app, make_initiative, smtp):
    make_initiative()
    right = make_app(DATA_KEY=TEST_DATA_KEY)
    add_signatures(right, "amiralsgatan", PEOPLE)
    queued = outbox_rows(right)
    assert len(queued) >= 3

    wrong = make_app(DATA_KEY=WRONG_KEY)
    for command in (["outbox", "send"], ["outbox", "work"]):
        result = wrong.test_cli_runner().invoke(args=command)
        assert result.exit_code == 1, result.output
        assert "DATA_KEY cannot decrypt" in result.output
    # Past the start-up check (the key changed under a running worker): the batch it
    # claimed goes back untouched, and the worker stops.
    with wrong.app_context():
        try:
            outbox.deliver_due(wrong, compose)
        except keycheck.DataKeyError:
            pass
        else:
            raise AssertionError("a worker that can read no mail must stop")
    assert outbox_rows(wrong) == queued
    assert smtp.messages == []

    # With the right key all of it goes out.
    with right.app_context():
        report = outbox.deliver_due(right, compose)
    assert report.sent == len(queued) and report.failed == 0


def test_one_damaged_mail_is_given_up_and_the_rest_sent(make_app, make_initiative, smtp):
    """Only when the key reads nothing is it the key; one bad row is that row's fault."""
    make_initiative()
    app = make_app(DATA_KEY=TEST_DATA_KEY)
    add_signatures(app, "amiralsgatan", PEOPLE)
    ids = [row[0] for row in outbox_rows(app)]
    with app.app_context():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == ids[1])
            .values(payload_enc=Fernet(WRONG_KEY).encrypt(b'{"to": "x@example.org"}'))
        )
        db.session.commit()
        report = outbox.deliver_due(app, compose)
    assert report.sent == len(ids) - 1 and report.failed == 1
    statuses = [status for _, status, _ in outbox_rows(app)]
    assert statuses[1] == OutboxStatus.FAILED
    assert statuses.count(OutboxStatus.SENT) == len(ids) - 1


def test_no_signature_is_taken_under_a_key_that_misses_duplicates(make_app, make_initiative):
    """The blind index is keyed by DATA_KEY: under the wrong key the same address would
    sign a second time, counted twice.  The signer gets the 503 page in her language."""
    make_initiative()
    add_signatures(make_app(DATA_KEY=TEST_DATA_KEY), "amiralsgatan", PEOPLE)
    wrong = make_app(DATA_KEY=WRONG_KEY)
    client = wrong.test_client()
    page = client.get("/i/amiralsgatan?lang=ar")
    assert page.status_code == 200
    token = csrf_token(client, "/i/amiralsgatan?lang=ar")
    response = client.post(
        "/i/amiralsgatan/sign?lang=ar",
        data=sign_form(csrf_token=token, name="Person 0", email="person0@example.org"),
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert 'lang="ar"' in response.get_data(as_text=True)
    with wrong.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == len(PEOPLE)
