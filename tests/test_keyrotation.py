"""rotate-data-key: a new key first, rotate, drop the old key; nothing is lost."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from initiatives import keycheck, keyrotation, kiosks, outbox, signatures
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import Initiative, OutboxMessage, Signature

from .conftest import TEST_DATA_KEY
from .privacy_support import Spec, add_signatures
from .test_kiosk import enrolled_tablet
from .test_kiosk_queue import queued_entry, same_tablet_on, send, sign_screen_key

NEW_KEY = Fernet.generate_key().decode()
PEOPLE = [
    Spec("amira@example.org", "Amira Hassan", postcode="212 14"),
    Spec("Bilal@Example.org", "Bilal Saïd", postcode=None),
    Spec("cecilia@example.org", "Cecilia Öberg"),
]


def plaintexts(app) -> tuple[list[tuple[str | None, ...]], list[str]]:
    with app.app_context():
        box = crypto()
        rows = db.session.scalars(sa.select(Signature).order_by(Signature.id)).all()
        people = [
            (box.decrypt(r.name_enc), box.decrypt(r.email_enc), box.decrypt(r.postcode_enc))
            for r in rows
        ]
        messages = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        recipients = [outbox.read_payload(m)["to"] for m in messages]
        return people, recipients


def test_rotate_then_remove_the_old_key(make_app, make_initiative):
    old_app = make_app(DATA_KEY=TEST_DATA_KEY)
    make_initiative()
    add_signatures(old_app, "amiralsgatan", PEOPLE)
    before = plaintexts(old_app)

    # Step 1: the new key goes first; old rows still read, new rows use the new key.
    both = make_app(DATA_KEY=f"{NEW_KEY},{TEST_DATA_KEY}")
    assert plaintexts(both) == before
    add_signatures(both, "amiralsgatan", [Spec("dalia@example.org", "Dalia Nur")])
    before = plaintexts(both)

    # A batch size that reads nothing is refused, not reported as a finished rotation.
    for size in ("0", "-5"):
        refused = both.test_cli_runner().invoke(args=["rotate-data-key", "--batch-size", size])
        assert refused.exit_code == 2 and "older keys may now be removed" not in refused.output

    # Step 2: rotate.
    result = both.test_cli_runner().invoke(args=["rotate-data-key", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted signatures.name_enc: 3" in result.output
    assert "re-encrypted outbox_messages.payload_enc:" in result.output
    assert "older keys may now be removed" in result.output

    # Step 3: the old key is gone; everything still decrypts ...
    new_only = make_app(DATA_KEY=NEW_KEY)
    assert plaintexts(new_only) == before
    with new_only.app_context():
        current = Fernet(NEW_KEY)
        for row in db.session.scalars(sa.select(Signature)):
            current.decrypt(row.name_enc)
            assert row.email_index == crypto().email_index(crypto().decrypt(row.email_enc))
        # ... and duplicates are still found, under any spelling of the address.
        initiative = db.session.scalars(sa.select(Initiative)).one()
        again = signatures.sign(initiative, name="Bilal", email="  bilal@EXAMPLE.org ", locale="sv")
        assert again.outcome in (signatures.SignOutcome.RESENT, signatures.SignOutcome.ALREADY)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) == 4


def test_rotation_is_resumable_and_a_second_run_changes_nothing(make_app, make_initiative):
    old_app = make_app(DATA_KEY=TEST_DATA_KEY)
    make_initiative()
    add_signatures(old_app, "amiralsgatan", PEOPLE)
    both = make_app(DATA_KEY=f"{NEW_KEY},{TEST_DATA_KEY}")
    with both.app_context():
        first = keyrotation.rotate(batch_size=1)
        second = keyrotation.rotate(batch_size=1)
    assert first.total_reencrypted > 0 and first.indexes_updated > 0
    assert second.total_reencrypted == 0 and second.indexes_updated == 0
    assert second.already_current == first.total_reencrypted + first.already_current


def test_removing_the_old_key_too_early_is_reported_not_hidden(make_app, make_initiative):
    old_app = make_app(DATA_KEY=TEST_DATA_KEY)
    make_initiative()
    add_signatures(old_app, "amiralsgatan", PEOPLE[:1])
    wrong = make_app(DATA_KEY=NEW_KEY)
    result = wrong.test_cli_runner().invoke(args=["rotate-data-key"])
    assert result.exit_code == 1
    assert "no configured key can decrypt" in result.output
    # Nothing was overwritten: with the right key everything still reads.
    with old_app.app_context():
        row = db.session.scalars(sa.select(Signature)).one()
        assert crypto().decrypt(row.name_enc) == "Amira Hassan"
        try:
            Fernet(NEW_KEY).decrypt(row.name_enc)
        except InvalidToken:
            pass
        else:  # pragma: no cover - would mean the key was silently replaced
            raise AssertionError("value was re-encrypted without its key")


def test_every_encrypted_column_is_found():
    columns = keyrotation.encrypted_columns()
    assert columns["signatures"] == ["name_enc", "email_enc", "postcode_enc"]
    assert columns["outbox_messages"] == ["payload_enc"]


def test_an_address_signed_twice_during_the_rollout_is_reported_and_the_rest_rotated(
    make_app, make_initiative
):
    """While the new key was being deployed, an instance still on the old key alone did
    not see a signature made under the new one: the address signed twice.  The rotation
    stopped there with a database error, every run, leaving the outbox (and every table
    after) under the old key; it rotates the rest and names the row instead."""
    old_app = make_app(DATA_KEY=TEST_DATA_KEY)
    make_initiative()
    # The old instance checked its key (keycheck) just before the first row under the
    # new key was written: for up to a minute it signs on, as one without the check did.
    with old_app.app_context():
        assert keycheck.cached(old_app).ok
    both = make_app(DATA_KEY=f"{NEW_KEY},{TEST_DATA_KEY}")
    add_signatures(both, "amiralsgatan", [Spec("amira@example.org")])
    [second] = add_signatures(old_app, "amiralsgatan", [Spec("Amira@example.org")])
    add_signatures(old_app, "amiralsgatan", PEOPLE[1:])
    for _run in range(2):
        result = both.test_cli_runner().invoke(args=["rotate-data-key", "--batch-size", "2"])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert f"signatures.email_index #{second}" in result.output
        assert "older keys may now be removed" not in result.output
    with both.app_context():
        current = Fernet(NEW_KEY)
        for row in db.session.scalars(sa.select(Signature)):
            current.decrypt(row.name_enc)
            current.decrypt(row.email_enc)
        for message in db.session.scalars(sa.select(OutboxMessage)):
            current.decrypt(message.payload_enc)
        # The row keeps the index it had: under the old key, still looked up.
        row = db.session.get(Signature, second)
        assert row.email_index in crypto().email_indexes("amira@example.org")[1:]


def test_rotation_reencrypts_the_kiosks_queue_keys(make_app, make_initiative):
    """A stand tablet's queue is sealed to a key pair whose private half is stored under
    DATA_KEY: rotated like the rest, what the tablet queued still opens under the new key
    alone."""
    old_app = make_app(DATA_KEY=TEST_DATA_KEY)
    make_initiative()
    tablet = enrolled_tablet(old_app)
    entry = queued_entry(sign_screen_key(tablet))

    both = make_app(DATA_KEY=f"{NEW_KEY},{TEST_DATA_KEY}")
    result = both.test_cli_runner().invoke(args=["rotate-data-key"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted kiosks.queue_keys_enc: 1" in result.output

    new_only = make_app(DATA_KEY=NEW_KEY)
    with new_only.app_context():
        [kiosk] = db.session.scalars(sa.select(kiosks.Kiosk)).all()
        Fernet(NEW_KEY).decrypt(kiosk.queue_keys_enc)  # under the new key alone
    response = send(same_tablet_on(new_only, tablet), entry)
    assert response.status_code == 200, response.get_data(as_text=True)
    with new_only.app_context():
        [row] = db.session.scalars(sa.select(Signature)).all()
        assert crypto().decrypt(row.name_enc) == "Amira Hassan"
