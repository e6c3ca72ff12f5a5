"""The burst review remembers the email domains it read, in this process only: a reload
decrypts only the addresses that came in since, and never uses a remembered domain for
a signature whose address is gone."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from initiatives import abuse, bursts, keyrotation, moderation
from initiatives.extensions import db
from initiatives.models import Initiative, Signature

from .admin_helpers import logged_in
from .conftest import CSRF_RE, TEST_DATA_KEY
from .privacy_support import BOT, Spec, add_signatures


def initiative() -> Initiative:
    return db.session.scalars(sa.select(Initiative)).one()


@pytest.fixture
def decrypted(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The addresses the burst review decrypts to read their domains."""
    read: list[bytes] = []
    real = bursts.domain_of

    def counted(email_enc: bytes) -> str | None:
        read.append(email_enc)
        return real(email_enc)

    monkeypatch.setattr(bursts, "domain_of", counted)
    return read


def by_domain() -> list[tuple[str, int]]:
    return [(b.key, b.count) for b in bursts.find(initiative(), by=[bursts.Signal.DOMAIN])]


def test_a_second_review_decrypts_only_the_signatures_that_came_in_since(
    app, burst_campaign, decrypted
):
    with app.app_context():
        assert by_domain() == [("mailbot.example", 12)]
    assert len(decrypted) == 13  # the bot's twelve and the person in the same minutes
    decrypted.clear()
    with app.app_context():
        assert by_domain() == [("mailbot.example", 12)]
    assert decrypted == []
    add_signatures(
        app, "amiralsgatan", [Spec(f"y{i}@mailbot.example", client_hash=BOT) for i in range(3)]
    )
    with app.app_context():
        assert by_domain() == [("mailbot.example", 15)]
        new = set(
            db.session.scalars(
                sa.select(Signature.email_enc).where(Signature.id > max(burst_campaign["bot"]))
            )
        )
    assert len(decrypted) == 3 and set(decrypted) == new
    with app.app_context():
        remembered = bursts.remembered(initiative().id)
    # One string per domain in memory, however many signatures share it.
    assert len(remembered) == 16
    assert len({id(d) for d in remembered.values() if d == "mailbot.example"}) == 1


def test_an_erased_signers_remembered_domain_is_not_used_and_is_forgotten(
    app, burst_campaign, decrypted
):
    with app.app_context():
        assert by_domain() == [("mailbot.example", 12)]
        erased = [i for i in burst_campaign["bot"] if i not in burst_campaign["bot_pending"]][:2]
        for signature_id in erased:
            moderation.erase_on_request(
                db.session.get(Signature, signature_id),
                "samira@example.org",
                received_via="email",
                received_on=date(2026, 5, 2),
            )
        db.session.commit()
        # Still confirmed and counted, but the address is gone: so is its domain.
        assert db.session.get(Signature, erased[0]).state == "confirmed"
    decrypted.clear()
    with app.app_context():
        assert by_domain() == [("mailbot.example", 10)]
        remembered = bursts.remembered(initiative().id)
    assert decrypted == []
    assert not set(erased) & set(remembered)
    assert set(remembered) == set(burst_campaign["bot"]) - set(erased) | {
        burst_campaign["people"][2]
    }


def test_an_invalidated_signature_is_forgotten_and_read_again_when_restored(
    app, burst_campaign, decrypted
):
    with app.app_context():
        assert by_domain() == [("mailbot.example", 12)]
        selection = abuse.Selection(initiative().id, signature_ids=burst_campaign["bot"][:2])
        change = abuse.invalidate(selection, reason="automated", actor="samira@example.org")
        db.session.commit()
    decrypted.clear()
    with app.app_context():
        assert by_domain() == [("mailbot.example", 10)]
        assert not set(burst_campaign["bot"][:2]) & set(bursts.remembered(initiative().id))
        abuse.restore(abuse.selection_of_event(initiative(), change.event_id), actor="samira")
        db.session.commit()
    assert decrypted == []
    with app.app_context():
        assert by_domain() == [("mailbot.example", 12)]
    assert len(decrypted) == 2


def test_the_memory_is_bounded_and_the_least_recently_reviewed_goes_first():
    memo = bursts.DomainMemo(entries=5)
    memo.keep(1, {10: "a.example", 11: "b.example"})
    memo.keep(2, {20: "a.example", 21: None})
    assert memo.known(1) == {10: "a.example", 11: "b.example"}  # now the most recent
    memo.keep(3, {30: "c.example", 31: "c.example"})
    assert (memo.known(2), memo.known(1)) == ({}, {10: "a.example", 11: "b.example"})
    memo.keep(4, {i: "d.example" for i in range(40, 50)})  # more than fit: the first five
    assert memo.known(4) == {i: "d.example" for i in range(40, 45)}
    assert (memo.known(1), memo.known(3)) == ({}, {})


def test_a_review_finds_the_same_bursts_with_a_memory_too_small_for_them(
    app, burst_campaign, decrypted, monkeypatch
):
    monkeypatch.setattr(bursts, "MEMO_ENTRIES", 5)
    with app.app_context():
        assert by_domain() == [("mailbot.example", 12)]
        assert by_domain() == [("mailbot.example", 12)]
        assert len(bursts.remembered(initiative().id)) == 5
    assert len(decrypted) == 13 + 8


def without_tokens(page: str) -> str:
    return CSRF_RE.sub("", page)


def test_reloading_the_review_page_decrypts_no_address_again(app, burst_campaign, decrypted):
    organiser = logged_in(app)
    first = organiser.get("/admin/initiatives/amiralsgatan/review")
    assert first.status_code == 200 and "mailbot.example" in first.get_data(as_text=True)
    assert len(decrypted) == 13
    again = organiser.get("/admin/initiatives/amiralsgatan/review")
    assert without_tokens(again.get_data(as_text=True)) == without_tokens(
        first.get_data(as_text=True)
    )
    assert len(decrypted) == 13


def test_a_rotated_key_leaves_the_remembered_domains_true(make_app, burst_campaign, decrypted):
    """``rotate-data-key`` re-encrypts every address under the new key: the same address,
    so the same domain; a worker on both keys keeps what it read, and one on the new key
    alone reads the same."""
    new_key = Fernet.generate_key().decode()
    both = make_app(DATA_KEY=f"{new_key},{TEST_DATA_KEY}")
    with both.app_context():
        assert by_domain() == [("mailbot.example", 12)]
        before = set(db.session.scalars(sa.select(Signature.email_enc)))
        assert keyrotation.rotate(batch_size=5).reencrypted["signatures.email_enc"] == 18
        db.session.commit()
        assert not before & set(db.session.scalars(sa.select(Signature.email_enc)))
        assert by_domain() == [("mailbot.example", 12)]
    assert len(decrypted) == 13
    new_only = make_app(DATA_KEY=new_key)
    with new_only.app_context():
        assert by_domain() == [("mailbot.example", 12)]
    assert len(decrypted) == 26


def test_a_new_signature_with_a_deleted_ones_id_is_read_afresh(
    app, backend, burst_campaign, decrypted
):
    """Purge deletes old unconfirmed signatures; on SQLite the next signature takes the
    id of the newest row if that one went.  The memory must not give it the domain of
    the one deleted."""
    newest = burst_campaign["bot"][-1]
    with app.app_context():
        assert by_domain() == [("mailbot.example", 12)]
        db.session.execute(sa.delete(Signature).where(Signature.id == newest))
        db.session.commit()
    decrypted.clear()
    [again] = add_signatures(app, "amiralsgatan", [Spec("z@elsewhere.example", client_hash=BOT)])
    if backend == "sqlite":
        assert again == newest
    with app.app_context():
        assert by_domain() == [("mailbot.example", 11)]
        assert bursts.remembered(initiative().id)[again] == "elsewhere.example"
    assert len(decrypted) == 1
