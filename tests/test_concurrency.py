"""Races: simultaneous signatures and confirmations keep the count exact.

These run on both engines; the task demands PostgreSQL, where the races are real
(several connections at once), and SQLite shows the same guarantees under its lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from initiatives import clock, lifecycle
from initiatives.extensions import db
from initiatives.models import Initiative, InitiativeState, Signature, SignatureState
from initiatives.signature_states import confirmed_count
from initiatives.tokens import Purpose, make_token

from .conftest import csrf_token, sign_form

THREADS = 20


def run_at_once(actions: list[Callable[[], int]]) -> list[int]:
    """Run each action in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(actions))
    results: list[int] = [0] * len(actions)
    errors: list[BaseException] = []

    def runner(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = actions[i]()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def prepared_signers(app, emails: list[str]) -> list[Callable[[], int]]:
    """One browser per signer, each with its CSRF token fetched before the race."""
    actions = []
    for email in emails:
        browser = app.test_client()
        data = sign_form(email=email, name=f"Signer {email.split('@')[0]}")
        data["csrf_token"] = csrf_token(browser, "/i/amiralsgatan")

        def act(browser=browser, data=data) -> int:
            return browser.post("/i/amiralsgatan/sign", data=data).status_code

        actions.append(act)
    return actions


def live_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Signature.id)))


def test_twenty_simultaneous_submissions_of_one_address_make_one_signature(app, make_initiative):
    make_initiative()
    statuses = run_at_once(prepared_signers(app, ["same@example.org"] * THREADS))
    assert statuses == [303] * THREADS
    assert live_rows(app) == 1


def test_twenty_different_addresses_at_once_make_twenty(app, make_initiative):
    make_initiative()
    emails = [f"person{i}@example.org" for i in range(THREADS)]
    statuses = run_at_once(prepared_signers(app, emails))
    assert statuses == [303] * THREADS
    assert live_rows(app) == THREADS


def test_concurrent_confirms_and_withdrawals_keep_count_equal_to_rows(app, make_initiative):
    make_initiative()
    emails = [f"person{i}@example.org" for i in range(THREADS)]
    run_at_once(prepared_signers(app, emails))
    with app.app_context():
        ids = list(db.session.scalars(sa.select(Signature.public_id).order_by(Signature.id)))
        confirm_tokens = [make_token(Purpose.CONFIRM, p) for p in ids]
        withdraw_tokens = [make_token(Purpose.WITHDRAW, p) for p in ids[:5]]

    def poster(path: str) -> Callable[[], int]:
        browser = app.test_client()
        token = csrf_token(browser, "/i/amiralsgatan")  # one token per session
        return lambda: browser.post(path, data={"csrf_token": token}).status_code

    # Every link confirmed twice at the same moment: each signature counts once.
    actions = [poster(f"/confirm/{t}") for t in confirm_tokens for _ in range(2)]
    assert set(run_at_once(actions)) == {303}
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == THREADS

    # Five withdraw at once while the same five are confirmed again.
    actions = [poster(f"/withdraw/{t}") for t in withdraw_tokens]
    actions += [poster(f"/confirm/{t}") for t in confirm_tokens[:5]]
    run_at_once(actions)
    with app.app_context():
        db.session.expire_all()
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == THREADS - 5
        states = db.session.scalars(sa.select(Signature.state)).all()
        assert states.count(SignatureState.WITHDRAWN) == 5


def _handed_in_behind_our_back(initiative_id: int) -> None:
    """As the organiser's submission would, committed on another connection."""
    with db.engine.begin() as other:
        other.execute(
            sa.update(Initiative)
            .where(Initiative.id == initiative_id)
            .values(state="submitted", submitted_at=sa.func.now())
        )


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_confirmation_or_withdrawal_racing_the_submission_changes_nothing(
    app, make_initiative, sign
):
    """The state was checked, then the list was handed in, then the count would move:
    the count the audit log recorded for the submission must stay the count."""
    from initiatives import signature_states

    make_initiative()
    sign(email="late@example.org")
    sign(email="early@example.org")
    with app.app_context():
        early = db.session.scalars(
            sa.select(Signature).order_by(Signature.id.desc()).limit(1)
        ).one()
        signature_states.confirm(early)
        db.session.commit()
    for act in (signature_states.confirm, signature_states.withdraw):
        with app.app_context():
            rows = db.session.scalars(sa.select(Signature).order_by(Signature.id)).all()
            target = rows[0] if act is signature_states.confirm else rows[1]
            assert target.initiative.state == "collecting"  # checked, in this request
            _handed_in_behind_our_back(target.initiative_id)
            with pytest.raises(signature_states.ListHandedInError):
                act(target)
            db.session.rollback()
        with app.app_context():
            states = [
                s.state for s in db.session.scalars(sa.select(Signature).order_by(Signature.id))
            ]
            initiative = db.session.scalars(sa.select(Initiative)).one()
            assert states == ["pending", "confirmed"]
            assert initiative.confirmed_count == confirmed_count(initiative.id) == 1
            db.session.execute(sa.update(Initiative).values(state="collecting"))
            db.session.commit()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_review_racing_the_hand_in_changes_nothing(app, burst_campaign):
    """The organiser's review read the list open, then another organiser's hand-in
    committed, then the review would change signatures.  Held-out or restored pending
    ones move no count, so only the initiative's lock and a fresh look at its state stop
    them: the handed-in list must stay as it was handed in."""
    from initiatives import abuse, moderation
    from initiatives.lifecycle import TransitionError

    pending = burst_campaign["bot_pending"]
    with app.app_context():
        initiative_id = db.session.scalars(sa.select(Initiative.id)).one()
        held = abuse.invalidate(
            abuse.Selection(initiative_id, signature_ids=pending[:1]), reason="other", actor="x"
        )
        db.session.commit()
    attempts: list[Callable[[Initiative], object]] = [
        lambda initiative: abuse.invalidate(
            abuse.Selection(initiative.id, signature_ids=pending[1:2]), reason="other", actor="x"
        ),
        lambda initiative: abuse.restore(
            abuse.selection_of_event(initiative, held.event_id), actor="x", event_id=held.event_id
        ),
        lambda initiative: moderation.invalidate(
            db.session.get(Signature, pending[2]), "x", reason="abuse", note=""
        ),
        lambda initiative: moderation.restore(db.session.get(Signature, pending[0]), "x"),
    ]
    for attempt in attempts:
        with app.app_context():
            initiative = db.session.scalars(sa.select(Initiative)).one()
            assert initiative.state == "collecting"  # checked, in this request
            _handed_in_behind_our_back(initiative.id)
            with pytest.raises((abuse.ReviewClosedError, TransitionError)):
                attempt(initiative)
            db.session.rollback()
        with app.app_context():
            states = db.session.scalars(
                sa.select(Signature.state).where(Signature.id.in_(pending)).order_by(Signature.id)
            ).all()
            assert states == ["invalidated", "pending", "pending", "pending"]
            db.session.execute(sa.update(Initiative).values(state="collecting"))
            db.session.commit()


def test_the_link_page_says_409_when_the_list_was_handed_in_meanwhile(
    app, make_initiative, sign, monkeypatch
):
    """The same race seen by the signer: a clear page, nothing stored (the check that
    let the request through is made to pass here, as it did before the submission)."""
    make_initiative()
    sign()
    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
        link = f"/confirm/{make_token(Purpose.CONFIRM, signature.public_id)}"
    client = app.test_client()
    token = csrf_token(client, link)
    with app.app_context():
        db.session.execute(sa.update(Initiative).values(state="submitted"))
        db.session.commit()
    monkeypatch.setattr(Initiative, "accepts_confirmations", lambda self: True)
    response = client.post(link, data={"csrf_token": token})
    assert response.status_code == 409
    assert "Det går inte just nu" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(sa.select(Signature.state)).one() == "pending"
        assert db.session.scalars(sa.select(Initiative.confirmed_count)).one() == 0


PG = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


@PG
def test_one_address_submitted_twenty_times_at_once_gets_no_more_mail_than_the_cap(
    app, make_initiative
):
    """The daily cap is what stops anyone filling a stranger's inbox: it must hold for
    submissions sent in parallel (several tabs, a script)."""
    from initiatives.models import OutboxMessage

    make_initiative()
    cap = app.config["MAILS_PER_ADDRESS_PER_DAY"]
    assert run_at_once(prepared_signers(app, ["same@example.org"] * 20)) == [303] * 20
    with app.app_context():
        mails = db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "confirm")
        )
    assert mails <= cap


@PG
@pytest.mark.parametrize(
    ("age", "purged_as"),
    [("UNCONFIRMED_RETENTION_DAYS", "deleted"), ("CONFIRM_DAYS", "expired")],
)
def test_signing_again_while_purge_removes_the_old_pending_signature_signs_fresh(
    app, make_initiative, sign, monkeypatch, age, purged_as
):
    """A signer whose unconfirmed signature is old enough to be deleted (or expired)
    signs again at the moment ``flask purge`` does it: the repeat path had read the row
    pending, purge commits before the row is locked.  The signer gets the usual "check
    your mail" page and a new pending signature with a working link, never a 500 nor a
    link to the expired one."""
    from datetime import timedelta

    from initiatives import retention, signatures
    from initiatives.models import OutboxMessage

    make_initiative()
    sign()
    with app.app_context():
        old = clock.utcnow() - timedelta(days=app.config[age] + 1)
        db.session.execute(sa.update(Signature).values(created_at=old))
        db.session.commit()
    read = signatures._live_signature
    purged: list[int] = []

    def read_then_purge(*args, **kwargs):
        found = read(*args, **kwargs)
        if found is not None and not purged:
            with app.app_context():  # the purge, on its own connection
                report = retention.purge(actor="cli")
                purged.append("deleted" if report.deleted_unconfirmed else "expired")
                db.session.commit()
        return found

    monkeypatch.setattr(signatures, "_live_signature", read_then_purge)
    response = sign()
    assert purged == [purged_as]
    assert response.status_code == 303
    with app.app_context():
        fresh = db.session.scalars(sa.select(Signature).where(Signature.state == "pending")).one()
        assert fresh.created_at > old
        mails = db.session.scalars(
            sa.select(OutboxMessage.signature_id).where(OutboxMessage.kind == "confirm")
        ).all()
        assert fresh.id in mails


def test_one_address_submitted_twice_at_once_gets_one_link(app, make_initiative):
    """A double tap sends the two POSTs together: one signature, one confirmation mail."""
    from initiatives.models import OutboxMessage

    make_initiative()
    assert run_at_once(prepared_signers(app, ["same@example.org"] * 2)) == [303, 303]
    with app.app_context():
        kinds = db.session.scalars(sa.select(OutboxMessage.kind)).all()
    assert kinds == ["confirm"]
    assert live_rows(app) == 1


def _admin_with_two_factor(app, email: str) -> tuple[int, str]:
    """An admin account with two-factor login set up: its id and TOTP secret."""
    import pyotp

    from initiatives import accounts

    from .admin_helpers import create_admin

    user_id = create_admin(app, email)
    secret = pyotp.random_base32()
    with app.app_context():
        user = db.session.get(accounts.AdminUser, user_id)
        user.totp_secret_enc = accounts.crypto().encrypt(secret)
        db.session.commit()
    return user_id, secret


@PG
def test_one_totp_code_posted_twice_at_once_logs_in_once(app):
    import pyotp

    from initiatives import accounts

    from .admin_helpers import login

    user_id, secret = _admin_with_two_factor(app, "amal@example.org")
    for _round in range(5):
        with app.app_context():
            db.session.get(accounts.AdminUser, user_id).totp_last_step = None
            db.session.execute(sa.delete(accounts.LoginFailure))
            db.session.commit()
        code = pyotp.TOTP(secret).now()
        actions = []
        for _ in range(2):
            browser = app.test_client()
            assert login(browser, "amal@example.org").status_code == 302
            data = {"code": code, "csrf_token": csrf_token(browser, "/admin/login/code")}
            actions.append(
                lambda b=browser, d=data: b.post("/admin/login/code", data=d).status_code
            )
        assert sorted(run_at_once(actions)) == [302, 401]


@PG
def test_wrong_passwords_sent_in_parallel_are_throttled_like_one_by_one(app):
    from .admin_helpers import create_admin

    create_admin(app, "amal@example.org")
    limit = app.config["ADMIN_LOGIN_MAX_PER_ACCOUNT"]
    actions = []
    for guess in range(12):
        browser = app.test_client()
        data = {
            "email": "amal@example.org",
            "password": f"wrong guess {guess}",
            "csrf_token": csrf_token(browser, "/admin/login"),
        }
        actions.append(lambda b=browser, d=data: b.post("/admin/login", data=d).status_code)
    statuses = run_at_once(actions)
    assert statuses.count(401) == limit and statuses.count(429) == 12 - limit


@PG
def test_wrong_codes_sent_in_parallel_are_throttled_like_one_by_one(app):
    import time

    import pyotp

    from .admin_helpers import login

    _user_id, secret = _admin_with_two_factor(app, "amal@example.org")
    # Someone who has the password guesses the second step with many sessions at once.
    wrong = pyotp.TOTP(secret).at(time.time() - 3600)
    limit = app.config["ADMIN_LOGIN_MAX_PER_ACCOUNT"]
    actions = []
    for _ in range(12):
        browser = app.test_client()
        assert login(browser, "amal@example.org").status_code == 302
        data = {"code": wrong, "csrf_token": csrf_token(browser, "/admin/login/code")}
        actions.append(lambda b=browser, d=data: b.post("/admin/login/code", data=d).status_code)
    statuses = run_at_once(actions)
    assert statuses.count(401) == limit and statuses.count(429) == 12 - limit


def _wait_for_lock_waiters(
    connection: sa.Connection, n: int, unless: Callable[[], bool] = lambda: False
) -> None:
    """Until ``n`` other sessions of this database wait for a row lock (at most 60 s), or
    ``unless()`` is true."""
    import time

    deadline = time.monotonic() + 60
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while connection.execute(query).scalar_one() < n and not unless():
        connection.rollback()  # the activity view is a snapshot per transaction
        assert time.monotonic() < deadline, "the requests never reached the lock"
        time.sleep(0.05)


@PG
def test_one_previewed_invalidation_confirmed_twice_at_once_acts_once(app, burst_campaign):
    """Two organisers confirm the same preview (or one, in two tabs) while a signer's
    confirmation holds one of its rows: both got past the preview's count; one
    invalidates the twelve, the other is told the selection changed, and the log
    holds one invalidation, not a second one of nothing."""
    from initiatives.models import AuditEvent

    from .admin_helpers import logged_in
    from .privacy_support import BOT, count_is_exact

    review = "/admin/initiatives/amiralsgatan/review"
    page = f"{review}/preview?client={BOT[:16]}"
    actions = []
    for email in ("lina@example.org", "omar@example.org"):
        organiser = logged_in(app, role="organiser", email=email)
        data = {"client": BOT[:16], "expected": "12", "reason": "automated"}
        data["csrf_token"] = csrf_token(organiser, page)
        actions.append(
            lambda o=organiser, d=data: o.post(f"{review}/invalidate", data=d).status_code
        )
    statuses: list[int] = []
    with app.app_context(), db.engine.connect() as signer, db.engine.connect() as watcher:
        signer.execute(
            sa.select(Signature.id)
            .where(Signature.id == burst_campaign["bot"][0])
            .with_for_update()
        )
        threads = [threading.Thread(target=lambda a=a: statuses.append(a())) for a in actions]
        for t in threads:
            t.start()
        _wait_for_lock_waiters(watcher, 2)
        signer.rollback()
    for t in threads:
        t.join(timeout=120)
    assert sorted(statuses) == [302, 409]
    assert count_is_exact(app, "amiralsgatan") == 6
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "abuse.invalidate")
        ).all()
        assert [e.details["signature_ids"] for e in events] == [sorted(burst_campaign["bot"])]


@PG
def test_a_restore_racing_the_signers_withdrawal_leaves_it_withdrawn(app, make_initiative, sign):
    """The organiser opened a held signature's page and restores it; its signer withdrew
    in between (committed).  A restored review makes a withdrawn signature withdrawn,
    never counted, whatever the organiser's page had read."""
    from initiatives import moderation, signature_states

    make_initiative()
    sign()
    with app.app_context():
        held = db.session.scalars(sa.select(Signature)).one()
        signature_states.confirm(held)
        moderation.invalidate(held, "lina@example.org", reason="abuse", note="")
        db.session.commit()
    with app.app_context():
        seen = db.session.scalars(sa.select(Signature)).one()  # the organiser's page
        assert seen.withdrawn_at is None
        with app.app_context():  # the signer's request, on its own connection
            mine = db.session.scalars(sa.select(Signature)).one()
            assert signature_states.withdraw(mine) == signature_states.WithdrawOutcome.WITHDRAWN
            db.session.commit()
        moderation.restore(seen, "lina@example.org")
        db.session.commit()
    with app.app_context():
        assert db.session.scalars(sa.select(Signature.state)).one() == "withdrawn"
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == 0


@PG
def test_an_invalidation_racing_the_confirmation_logs_the_state_it_moved_from(
    app, make_initiative, sign
):
    """The organiser's page read the signature pending; its signer confirmed before the
    click.  The log says it was confirmed when held out: it had counted."""
    from initiatives import moderation, signature_states
    from initiatives.models import AuditEvent

    make_initiative()
    sign()
    with app.app_context():
        seen = db.session.scalars(sa.select(Signature)).one()  # the organiser's page
        assert seen.state == "pending"
        with app.app_context():  # the signer's request, on its own connection
            signature_states.confirm(db.session.scalars(sa.select(Signature)).one())
            db.session.commit()
        moderation.invalidate(seen, "lina@example.org", reason="abuse", note="")
        db.session.commit()
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "signature.invalidated")
        ).one()
        assert event.details["previous_state"] == "confirmed"
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == 0


@PG
def test_a_withdrawal_racing_the_hand_in_cannot_withdraw_a_handed_in_list(app, make_initiative):
    """One organiser records the hand-in while another withdraws the initiative: the
    withdrawal read "closed" before the hand-in committed.  It must see the hand-in
    once it may write, and be refused, not turn a handed-in list into a withdrawn one."""
    from initiatives import lifecycle
    from initiatives.lifecycle import TransitionError

    make_initiative(state="closed")
    outcome: list[object] = []

    def withdraw() -> None:
        with app.app_context():
            initiative = db.session.scalars(sa.select(Initiative)).one()
            try:
                lifecycle.withdraw(initiative, "omar@example.org", reason="vi ger upp")
                db.session.commit()
                outcome.append("withdrawn")
            except TransitionError:
                db.session.rollback()
                outcome.append("refused")

    with app.app_context(), db.engine.connect() as hand_in, db.engine.connect() as watcher:
        # The hand-in's transaction, holding the initiative's row (lifecycle.submit).
        hand_in.execute(
            sa.select(Initiative.id).where(Initiative.slug == "amiralsgatan").with_for_update()
        )
        hand_in.execute(
            sa.update(Initiative).where(Initiative.slug == "amiralsgatan").values(state="submitted")
        )
        thread = threading.Thread(target=withdraw)
        thread.start()
        _wait_for_lock_waiters(watcher, 1)
        hand_in.commit()
    thread.join(timeout=120)
    assert outcome == ["refused"]
    with app.app_context():
        assert db.session.scalars(sa.select(Initiative.state)).one() == "submitted"


def _while_held(
    app, hold: Callable[[sa.orm.Session], None], act: Callable[[], object]
) -> list[object]:
    """Run ``act`` (an organiser's action, in its own app context and transaction) while
    another transaction holds what ``hold`` wrote; that one commits once ``act`` waits
    on it.  What ``act`` was told: what it returned, a refusal's message, or the name of
    any other error."""
    from initiatives.lifecycle import TransitionError

    outcome: list[object] = []

    def run() -> None:
        with app.app_context():
            try:
                result = act()
                db.session.commit()
                outcome.append(result)
            except TransitionError as exc:
                db.session.rollback()
                outcome.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - reported in the outcome
                db.session.rollback()
                outcome.append(type(exc).__name__)

    with app.app_context(), sa.orm.Session(db.engine) as first, db.engine.connect() as watcher:
        hold(first)
        first.flush()
        thread = threading.Thread(target=run)
        thread.start()
        _wait_for_lock_waiters(watcher, 1)
        first.commit()
    thread.join(timeout=120)
    return outcome


def _while_another_draft_takes_amiralsgatan(app, act: Callable[[], None]) -> list[object]:
    """Run ``act`` while another organiser's uncommitted draft holds the address
    /i/amiralsgatan.  What ``act`` was told: "done" or the refusal."""

    def hold(first: sa.orm.Session) -> None:
        first.execute(
            sa.insert(Initiative).values(
                slug="amiralsgatan", state="draft", threshold=100, period_months=6,
                target_body="Tekniska nämnden", confirmed_count=0,
            )
        )  # fmt: skip

    def run() -> str:
        act()
        return "done"

    return _while_held(app, hold, run)


@PG
def test_two_drafts_made_with_one_address_at_once_get_a_message_not_an_error(app):
    """Two organisers create a draft at /i/amiralsgatan at the same moment: both pass the
    "address taken?" check; the second is told the address is taken."""
    from initiatives import lifecycle

    def create() -> None:
        lifecycle.create_draft("omar@example.org", slug="amiralsgatan", threshold=100)

    outcome = _while_another_draft_takes_amiralsgatan(app, create)
    assert outcome == ["Adressen används redan av ett annat initiativ."]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Initiative.id))) == 1


@PG
def test_the_new_draft_form_racing_another_draft_shows_the_message_not_an_error(app):
    """The same race through the organiser's form: the page comes back with "the address
    is taken" and what she typed, a 400, not a server error (the refused row must not be
    flushed again by a query the page makes)."""
    from .admin_helpers import logged_in, post_form

    client = logged_in(app)
    token_page = "/admin/initiatives/new"
    client.get(token_page)
    responses: list[object] = []

    def create() -> None:
        response = post_form(
            client, token_page, "/admin/initiatives/new",
            slug="amiralsgatan", threshold="100", period_months="6",
            target_body="Tekniska nämnden",
        )  # fmt: skip
        responses.append(response)

    assert _while_another_draft_takes_amiralsgatan(app, create) == ["done"]
    [response] = responses
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page
    assert "Adressen används redan av ett annat initiativ." in page
    assert 'value="Tekniska nämnden"' in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Initiative.id))) == 1


@PG
def test_the_settings_form_renaming_into_a_race_shows_the_message_not_an_error(
    app, make_initiative
):
    """A draft renamed through the settings form to the address another draft is taking:
    the form comes back with the message (409, as every refusal of this form), and the
    draft keeps its address."""
    from .admin_helpers import logged_in, post_form

    make_initiative("utkast-ett", state=InitiativeState.DRAFT)
    client = logged_in(app)
    page = "/admin/initiatives/utkast-ett/settings"
    responses: list[object] = []

    def rename() -> None:
        responses.append(
            post_form(
                client, page, page,
                slug="amiralsgatan", threshold="100", period_months="6",
                target_body="Tekniska nämnden",
            )
        )  # fmt: skip

    assert _while_another_draft_takes_amiralsgatan(app, rename) == ["done"]
    [response] = responses
    assert response.status_code == 409, response.get_data(as_text=True)
    assert "Adressen används redan av ett annat initiativ." in response.get_data(as_text=True)
    with app.app_context():
        slugs = db.session.scalars(sa.select(Initiative.slug).order_by(Initiative.slug))
        assert slugs.all() == ["amiralsgatan", "utkast-ett"]


@PG
def test_a_draft_text_saved_while_it_is_published_comes_back_with_the_reason_field(
    app, make_initiative
):
    """Nadia saves the draft's text while Omar's publishing holds the initiative: her
    request read a draft, then finds it collecting.  A conflict (409) with her text kept
    and the reason field a correction needs, not a server error; nothing is stored."""
    from initiatives import texts

    from .admin_helpers import logged_in, opened

    text = {"title": "Tryggare Amiralsgatan", "summary": "Säkra övergångar.", "body": "Förslag."}
    make_initiative(state=InitiativeState.DRAFT, texts={"sv": text})
    client = logged_in(app, role="organiser", email="nadia@example.org")
    page = "/admin/initiatives/amiralsgatan/text/sv"
    typed = text | {"body": "Vi föreslår säkra övergångar och träd."}
    shown = opened(client, page)
    responses: list[object] = []

    def publish(first: sa.orm.Session) -> None:
        first.execute(sa.update(Initiative).values(state=InitiativeState.COLLECTING))

    def save() -> None:
        responses.append(client.post(page, data=shown | typed))

    assert _while_held(app, publish, save) == [None]
    [response] = responses
    body = response.get_data(as_text=True)
    assert response.status_code == 409, body
    assert "Initiativet har publicerats sedan du öppnade sidan" in body
    assert 'name="note"' in body and typed["body"] in body
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        stored = texts.stored_text(initiative, "sv")
        assert {k: getattr(stored, k) for k in text} == text
        assert texts.amendments(initiative) == []


@PG
def test_two_admins_demoting_each_other_at_once_leave_one_admin(app):
    """Samira demotes Bilal while Bilal demotes Samira: each saw two admins.  The second
    must count again once the first has committed, and be refused."""
    from initiatives import accounts

    from .admin_helpers import create_admin, login, post_form

    samira = create_admin(app, "samira@example.org")
    create_admin(app, "bilal@example.org")
    bilal_browser = app.test_client()
    assert login(bilal_browser, "bilal@example.org").status_code == 302
    statuses: list[int] = []

    def bilal_demotes_samira() -> None:
        statuses.append(
            post_form(
                bilal_browser,
                "/admin/accounts",
                f"/admin/accounts/{samira}/role",
                role="organiser",
            ).status_code
        )

    with app.app_context(), db.engine.connect() as samiras, db.engine.connect() as watcher:
        # Samira's request, demoting Bilal, not yet committed.
        samiras.execute(
            sa.update(accounts.AdminUser)
            .where(accounts.AdminUser.email == "bilal@example.org")
            .values(role="organiser")
        )
        thread = threading.Thread(target=bilal_demotes_samira)
        thread.start()
        # It waits for Samira's (a fixed app), or finishes at once having seen two admins.
        _wait_for_lock_waiters(watcher, 1, unless=lambda: not thread.is_alive())
        samiras.commit()
    thread.join(timeout=120)
    assert statuses == [302]
    with app.app_context():
        assert accounts.active_admins() == 1
        assert accounts.by_email("samira@example.org").role == "admin"


@PG
def test_two_drafts_renamed_to_one_address_at_once_get_a_message_not_an_error(app, make_initiative):
    """The same race when a draft is renamed to an address another draft is taking."""
    from initiatives import lifecycle

    make_initiative("utkast-ett", state=InitiativeState.DRAFT)

    def rename() -> None:
        draft = db.session.scalars(sa.select(Initiative).where(Initiative.slug == "utkast-ett"))
        lifecycle.update_settings(draft.one(), "omar@example.org", slug="amiralsgatan")

    outcome = _while_another_draft_takes_amiralsgatan(app, rename)
    assert outcome == ["Adressen används redan av ett annat initiativ."]


@PG
def test_one_kiosk_created_twice_at_once_from_the_terminal_gets_a_message_not_a_traceback(
    app, make_initiative
):
    """Two organisers run ``flask kiosk create --name "Stand 1"`` at the same moment: both
    pass the "name taken?" check; the second is told the name exists and exits non-zero,
    and the first one's kiosk is the only one."""
    from initiatives import kiosks

    make_initiative()

    def hold(first: sa.orm.Session) -> None:
        first.add(kiosks.Kiosk(name="Stand 1"))

    def create() -> tuple[int, str, str]:
        result = app.test_cli_runner().invoke(
            args=["kiosk", "create", "--initiative", "amiralsgatan", "--name", "Stand 1"]
        )
        return result.exit_code, result.output, type(result.exception).__name__

    outcome = _while_held(app, hold, create)
    assert len(outcome) == 1 and isinstance(outcome[0], tuple), outcome  # not a DB error
    exit_code, output, error = outcome[0]
    assert exit_code == 1 and error == "SystemExit", output
    assert "A kiosk called 'Stand 1' exists" in output and "Traceback" not in output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(kiosks.Kiosk.id))) == 1


def _paper_sheet(app, make_initiative) -> int:
    from initiatives import paper

    make_initiative(opens_days_ago=5)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        sheet = paper.add_sheet(
            initiative, "nadia@example.org", number="7",
            # Malmö's day, as the rows' (the UTC date is a day behind before 1 or 2 am).
            collected_on=lifecycle.local_date(clock.utcnow()), collected_by="Hodan",
        )  # fmt: skip
        db.session.commit()
        return sheet.id


@PG
def test_one_paper_row_saved_twice_at_once_gets_the_next_line_not_an_error(app, make_initiative):
    """ "Spara raden" clicked twice, or two volunteers typing one sheet: both requests
    read the sheet's last line; the second one's row takes the line after the first."""
    from initiatives import paper
    from initiatives.models import Channel

    sheet_id = _paper_sheet(app, make_initiative)

    def hold(first: sa.orm.Session) -> None:
        initiative_id = first.scalars(sa.select(Initiative.id)).one()
        signature = Signature(
            initiative_id=initiative_id, state=SignatureState.CONFIRMED, channel=Channel.PAPER,
            confirmed_at=clock.utcnow(),
        )  # fmt: skip
        first.add(signature)
        first.flush()
        first.add(paper.PaperRow(signature_id=signature.id, sheet_id=sheet_id, line=1))

    def add() -> int:
        row, _ = paper.add_row(
            db.session.get(paper.PaperSheet, sheet_id), "omar@example.org", name="Hodan Ali",
            postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        return row.line

    outcome = _while_held(app, hold, add)
    assert outcome == [2]
    with app.app_context():
        lines = db.session.scalars(sa.select(paper.PaperRow.line).order_by(paper.PaperRow.line))
        assert lines.all() == [1, 2]


@PG
def test_a_paper_row_typed_while_its_sheet_is_redated_meets_the_new_date(app, make_initiative):
    """Another organiser corrects the sheet's date to yesterday while a row signed today
    is typed: the row waits for her, then is refused against the date she saved, not
    the one its request read before."""
    from datetime import timedelta

    from initiatives import paper

    sheet_id = _paper_sheet(app, make_initiative)
    today = lifecycle.local_date(clock.utcnow())
    yesterday = today - timedelta(days=1)

    def hold(first: sa.orm.Session) -> None:
        first.execute(sa.select(Initiative.id).with_for_update())  # as correct_sheet does
        first.execute(
            sa.update(paper.PaperSheet).where(paper.PaperSheet.id == sheet_id)
            .values(collected_on=yesterday)
        )  # fmt: skip

    def add() -> str:
        paper.add_row(
            db.session.get(paper.PaperSheet, sheet_id), "omar@example.org", name="Hodan Ali",
            postcode=None, signed_on=today,
        )  # fmt: skip
        return "added"

    outcome = _while_held(app, hold, add)
    assert outcome == [f"Datumet är efter att listan samlades in ({yesterday.isoformat()})."]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(paper.PaperRow)) == 0


@PG
def test_one_paper_sheet_added_twice_at_once_gets_a_message_not_an_error(app, make_initiative):
    """A double click on "add sheet": both requests find no sheet 7; the second is told
    there is one."""
    from initiatives import paper

    make_initiative(opens_days_ago=5)

    def hold(first: sa.orm.Session) -> None:
        first.add(
            paper.PaperSheet(
                initiative_id=first.scalars(sa.select(Initiative.id)).one(), number="7",
                collected_on=clock.utcnow().date(), collected_by="Hodan",
                created_by="nadia@example.org",
            )
        )  # fmt: skip

    def add() -> str:
        paper.add_sheet(
            db.session.scalars(sa.select(Initiative)).one(), "omar@example.org", number="7",
            collected_on=clock.utcnow().date(), collected_by="Hodan",
        )  # fmt: skip
        return "added"

    outcome = _while_held(app, hold, add)
    assert outcome == ["Det finns redan en lista med nummer 7."]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(paper.PaperSheet.id))) == 1


@PG
def test_a_paper_sheet_corrected_to_a_number_just_taken_gets_a_message(app, make_initiative):
    """Sheet 7 corrected to 8 while another organiser adds sheet 8: the correction waits
    for her, then finds sheet 8 and says so (not a database error, not two sheets 8)."""
    from initiatives import paper, paper_corrections

    sheet_id = _paper_sheet(app, make_initiative)
    with app.app_context():
        seen = paper_corrections.sheet_version(db.session.get(paper.PaperSheet, sheet_id))

    def hold(first: sa.orm.Session) -> None:
        first.add(
            paper.PaperSheet(
                initiative_id=first.scalars(sa.select(Initiative.id)).one(), number="8",
                collected_on=clock.utcnow().date(), collected_by="Hodan",
                created_by="nadia@example.org",
            )
        )  # fmt: skip

    def correct() -> bool:
        return paper_corrections.correct_sheet(
            db.session.get(paper.PaperSheet, sheet_id), "omar@example.org", seen=seen,
            number="8", collected_on=clock.utcnow().date(), collected_by="Hodan",
        )  # fmt: skip

    outcome = _while_held(app, hold, correct)
    assert outcome == ["Det finns redan en lista med nummer 8."]
    with app.app_context():
        numbers = db.session.scalars(sa.select(paper.PaperSheet.number).order_by("number"))
        assert numbers.all() == ["7", "8"]


@PG
def test_a_paper_row_corrected_while_the_same_name_signs_online_is_flagged(app, make_initiative):
    """A row corrected to "Hodan Ali" while Hodan Ali's web signature is being saved: the
    correction waits for it, then compares with it and flags the row."""
    from initiatives import paper, paper_corrections
    from initiatives.crypto import crypto
    from initiatives.models import Channel

    sheet_id = _paper_sheet(app, make_initiative)
    with app.app_context():
        row, _ = paper.add_row(
            db.session.get(paper.PaperSheet, sheet_id), "nadia@example.org", name="Hodan Alí",
            postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        db.session.commit()
        row_id, seen = row.signature_id, paper_corrections.row_version(row)

    def hold(first: sa.orm.Session) -> None:
        first.add(
            Signature(
                initiative_id=first.scalars(sa.select(Initiative.id)).one(),
                state=SignatureState.PENDING, channel=Channel.WEB,
                name_enc=crypto().encrypt("Hodan Ali"),
            )
        )  # fmt: skip

    def correct() -> tuple[bool, int]:
        done = paper_corrections.correct_row(
            db.session.get(paper.PaperRow, row_id), "omar@example.org", seen=seen,
            name="Hodan Ali", postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        return done.changed, len(done.matches)

    outcome = _while_held(app, hold, correct)
    assert outcome == [(True, 1)]
    with app.app_context():
        assert db.session.get(paper.PaperRow, row_id).review == paper.Review.PENDING


def _queued_behind_a_paper_action(app, actions: list[Callable[[], object]]) -> list[object]:
    """Run ``actions`` (organisers' requests, each in its own app context and transaction)
    while a third organiser's paper action holds the initiative: each starts once the
    ones before it wait, and the third commits once all of them wait (or have ended).
    What each was told, in order: what it returned, a refusal's message, or the name of
    any other error (the driver's: a deadlock the database broke is DeadlockDetected)."""
    from initiatives.lifecycle import TransitionError

    outcome: list[object] = [None] * len(actions)

    def run(i: int) -> None:
        with app.app_context():
            try:
                result = actions[i]()
                db.session.commit()
                outcome[i] = result
            except TransitionError as exc:
                db.session.rollback()
                outcome[i] = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported in the outcome
                db.session.rollback()
                outcome[i] = type(getattr(exc, "orig", exc)).__name__

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    with app.app_context(), db.engine.connect() as third, db.engine.connect() as watcher:
        third.execute(sa.select(Initiative.id).with_for_update())
        for n, thread in enumerate(threads, start=1):
            thread.start()
            _wait_for_lock_waiters(watcher, n, unless=lambda t=thread: not t.is_alive())
        third.commit()
    for thread in threads:
        thread.join(timeout=120)
    return outcome


def _two_hodans(app, make_initiative) -> tuple[int, int]:
    """Lines 1 and 2 of a sheet, both "Hodan Ali" (line 2 is flagged): their ids."""
    from initiatives import paper

    sheet_id = _paper_sheet(app, make_initiative)
    with app.app_context():
        sheet = db.session.get(paper.PaperSheet, sheet_id)
        today = lifecycle.local_date(clock.utcnow())
        rows = [
            paper.add_row(sheet, "nadia@example.org", name="Hodan Ali", postcode=None,
                          signed_on=today)[0]
            for _ in range(2)
        ]  # fmt: skip
        db.session.commit()
        assert [row.review for row in rows] == [None, paper.Review.PENDING]
        return rows[0].signature_id, rows[1].signature_id


def _correct_to_cali(app, row_id: int) -> Callable[[], object]:
    """A correction of the row to "Hodan Cali", sent from its page as it is now: what it
    did (how many signatures the row matches, how many other rows it unflagged)."""
    from initiatives import paper, paper_corrections

    with app.app_context():
        seen = paper_corrections.row_version(db.session.get(paper.PaperRow, row_id))

    def correct() -> object:
        done = paper_corrections.correct_row(
            db.session.get(paper.PaperRow, row_id), "omar@example.org", seen=seen,
            name="Hodan Cali", postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        return ("corrected", len(done.matches), done.cleared)

    return correct


def _same_person(row_id: int) -> Callable[[], object]:
    from initiatives import paper

    def resolve() -> object:
        paper.resolve_duplicate(db.session.get(paper.PaperRow, row_id), "lina@example.org", "")
        return "resolved"

    return resolve


NO_LONGER_AWAITING = "Raden väntar inte längre på granskning."


@PG
def test_a_row_corrected_while_another_organiser_says_same_person_gets_no_error(
    app, make_initiative
):
    """Line 2 (flagged) is corrected to "Hodan Cali" by one organiser while another marks
    it "same person"; both wait behind a third organiser's typing.  Neither waits for the
    other (a deadlock, a 500): the correction is saved, and the answer, which came
    second, finds the row no longer waiting for review."""
    from initiatives import paper

    _, second = _two_hodans(app, make_initiative)
    actions = [_correct_to_cali(app, second), _same_person(second)]
    outcome = _queued_behind_a_paper_action(app, actions)
    assert outcome == [("corrected", 0, 0), NO_LONGER_AWAITING]
    with app.app_context():
        row = db.session.get(paper.PaperRow, second)
        assert row.review is None and row.signature.state == SignatureState.CONFIRMED


@PG
def test_a_row_corrected_while_it_is_taken_out_on_its_signatures_page_gets_no_error(
    app, make_initiative
):
    """Line 2 is corrected by one organiser while another invalidates it on its
    signature's page (which holds the signature, then the initiative, as a confirmation
    does): neither waits for the other; the invalidation comes second."""
    from initiatives import moderation

    _, second = _two_hodans(app, make_initiative)

    def invalidate() -> object:
        moderation.invalidate(
            db.session.get(Signature, second), "lina@example.org", reason="entry_error", note=""
        )
        return "invalidated"

    outcome = _queued_behind_a_paper_action(app, [_correct_to_cali(app, second), invalidate])
    assert outcome == [("corrected", 0, 0), "invalidated"]
    with app.app_context():
        assert db.session.get(Signature, second).state == SignatureState.INVALIDATED
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == 1


@PG
def test_a_decision_on_a_row_another_correction_unflags_is_refused_after_it(app, make_initiative):
    """Line 1 is corrected (its old name flagged line 2) while another organiser marks
    line 2 "same person": the answer waits for the correction, then finds line 2 no
    longer waiting for review; line 2 counts."""
    from initiatives import paper

    first, second = _two_hodans(app, make_initiative)
    actions = [_correct_to_cali(app, first), _same_person(second)]
    outcome = _queued_behind_a_paper_action(app, actions)
    assert outcome == [("corrected", 0, 1), NO_LONGER_AWAITING]
    with app.app_context():
        row = db.session.get(paper.PaperRow, second)
        assert row.review is None and row.signature.state == SignatureState.CONFIRMED


@PG
def test_a_rescan_during_a_decision_leaves_the_decision(app, make_initiative, sign):
    """Hodan's web signature, which a typed row was flagged against, was withdrawn; an
    organiser answers "same person" on the row (from the page she had open) while
    another presses "Sök efter nya dubbletter".  The rescan waits for the answer and
    leaves it: it does not take the flag off a row taken out as a duplicate."""
    from initiatives import paper, signature_states

    sheet_id = _paper_sheet(app, make_initiative)
    sign(name="Hodan Ali", email="hodan@example.org", postcode="")
    with app.app_context():
        sheet = db.session.get(paper.PaperSheet, sheet_id)
        row, _ = paper.add_row(
            sheet, "nadia@example.org", name="Hodan Ali", postcode=None,
            signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        assert row.review == paper.Review.PENDING
        web = db.session.scalars(sa.select(Signature).where(Signature.channel == "web")).one()
        assert signature_states.withdraw(web) == signature_states.WithdrawOutcome.WITHDRAWN
        db.session.commit()
        row_id = row.signature_id
    outcome: list[object] = []

    def rescan() -> None:
        with app.app_context():
            done = paper.rescan(db.session.scalars(sa.select(Initiative)).one(), "omar@example.org")
            db.session.commit()
            outcome.append((done.flagged, done.cleared))

    with app.app_context(), db.engine.connect() as watcher:
        paper.resolve_duplicate(db.session.get(paper.PaperRow, row_id), "lina@example.org", "")
        thread = threading.Thread(target=rescan)
        thread.start()
        _wait_for_lock_waiters(watcher, 1, unless=lambda: not thread.is_alive())
        db.session.commit()
    thread.join(timeout=120)
    assert outcome == [(0, 0)]
    with app.app_context():
        row = db.session.get(paper.PaperRow, row_id)
        assert row.review == paper.Review.RESOLVED
        assert row.signature.state == SignatureState.INVALIDATED


@PG
def test_a_correction_waits_for_whoever_holds_a_row_it_unflags_rather_than_skip_it(
    app, make_initiative
):
    """Line 2 was flagged against line 1's old name, and something holds line 2's row
    while line 1 is corrected (no paper action does without the initiative's lock, which
    it takes first; here a bare lock).  The correction waits for it, then unflags line 2:
    skipped, line 2 would wait for a review with nothing behind it."""
    from initiatives import paper

    first, second = _two_hodans(app, make_initiative)

    def hold(holder: sa.orm.Session) -> None:
        holder.execute(
            sa.select(paper.PaperRow.signature_id)
            .where(paper.PaperRow.signature_id == second)
            .with_for_update()
        )

    assert _while_held(app, hold, _correct_to_cali(app, first)) == [("corrected", 0, 1)]
    with app.app_context():
        assert db.session.get(paper.PaperRow, second).review is None


@PG
def test_different_people_answered_while_another_organiser_says_same_person(app, make_initiative):
    """Two organisers on the review page: one marks the row "same person" while the other
    presses "different people".  The second answer came after the row was taken out: it
    must be refused, not recorded as kept (its message said the row counted)."""
    from initiatives import paper

    sheet_id = _paper_sheet(app, make_initiative)
    with app.app_context():
        sheet = db.session.get(paper.PaperSheet, sheet_id)
        row, _ = paper.add_row(
            sheet, "nadia@example.org", name="Hodan Ali", postcode=None,
            signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        row.review = paper.Review.PENDING
        db.session.commit()
        row_id = row.signature_id

    def hold(first: sa.orm.Session) -> None:
        first.execute(
            sa.update(paper.PaperRow).where(paper.PaperRow.signature_id == row_id)
            .values(review="resolved")
        )  # fmt: skip
        first.execute(
            sa.update(Signature).where(Signature.id == row_id).values(state="invalidated")
        )

    def keep() -> str:
        paper.keep(db.session.get(paper.PaperRow, row_id), "omar@example.org")
        return "kept"

    outcome = _while_held(app, hold, keep)
    assert outcome == [NO_LONGER_AWAITING]
    with app.app_context():
        assert db.session.get(paper.PaperRow, row_id).review == "resolved"


def _while_another_admin_creates_hodan(app, act: Callable[[], object]) -> list[object]:
    """Run ``act`` while another admin's uncommitted request creates hodan@example.org."""
    from initiatives import accounts

    def hold(first: sa.orm.Session) -> None:
        first.add(
            accounts.AdminUser(email="hodan@example.org", password_hash="x", role="organiser")
        )

    return _while_held(app, hold, act)


@PG
def test_one_account_created_twice_at_once_in_the_admin_gets_a_message_not_an_error(app):
    """Two admins add hodan@example.org at the same moment: both pass the "address
    taken?" check; the second sees the form again with the usual message."""
    from initiatives import accounts

    from .admin_helpers import PASSWORD, logged_in

    admin = logged_in(app)
    token = csrf_token(admin, "/admin/accounts")
    data = {"email": "Hodan@example.org", "password": PASSWORD, "role": "organiser"}

    def create() -> tuple[int, str]:
        response = admin.post("/admin/accounts", data=data | {"csrf_token": token})
        return response.status_code, response.get_data(as_text=True)

    outcome = _while_another_admin_creates_hodan(app, create)
    assert len(outcome) == 1 and isinstance(outcome[0], tuple), outcome
    status, page = outcome[0]
    assert status == 400 and "Det finns redan ett konto med den e-postadressen." in page
    assert admin.get("/admin/accounts").status_code == 200
    with app.app_context():
        count = sa.select(sa.func.count(accounts.AdminUser.id))
        assert db.session.scalar(count.where(accounts.AdminUser.email == "hodan@example.org")) == 1


@PG
def test_one_account_created_twice_at_once_from_the_terminal_gets_a_message_not_a_traceback(app):
    from .admin_helpers import PASSWORD

    def create() -> tuple[int, str, str]:
        result = app.test_cli_runner().invoke(
            args=["admin", "create", "--email", "hodan@example.org", "--password-stdin"],
            input=PASSWORD + "\n",
        )
        return result.exit_code, result.output, type(result.exception).__name__

    outcome = _while_another_admin_creates_hodan(app, create)
    assert len(outcome) == 1 and isinstance(outcome[0], tuple), outcome  # not a DB error
    exit_code, output, error = outcome[0]
    assert exit_code == 1 and error == "SystemExit", output
    assert "Det finns redan ett konto med den e-postadressen." in output
    assert "Traceback" not in output


TEXT = {"title": "Tryggare Amiralsgatan", "summary": "Säkra övergångar.", "body": "Vi föreslår."}


def _save_text_from_an_older_page(locale: str) -> Callable[[], object]:
    """An organiser's save of ``locale``, made from a page that showed the text as it is
    committed when the save begins (read before the save waits for the lock)."""
    from initiatives import texts

    def save() -> object:
        initiative = db.session.scalars(sa.select(Initiative)).one()
        seen = texts.text_version(initiative, locale)
        return texts.set_text(
            initiative, "omar@example.org", locale, seen=seen,
            title="Omars rubrik", summary="", body="Omars förslag.",
        )  # fmt: skip

    return save


@PG
def test_a_text_saved_while_another_organiser_saves_it_is_refused_not_overwritten(
    app, make_initiative
):
    """Omar's page showed the text before Nadia's save, which commits while his waits:
    his save compares with her text, read afresh after the wait, and is refused."""
    from initiatives import texts
    from initiatives.models import InitiativeText

    make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT})

    def hold(first: sa.orm.Session) -> None:
        first.execute(sa.select(Initiative.id).with_for_update())
        first.execute(sa.update(InitiativeText).values(body="Nadias förslag."))

    outcome = _while_held(app, hold, _save_text_from_an_older_page("sv"))
    assert outcome == [str(texts.CHANGED_SINCE)]
    with app.app_context():
        assert db.session.scalars(sa.select(InitiativeText.body)).all() == ["Nadias förslag."]


@PG
def test_one_language_added_by_two_organisers_at_once_gets_a_message_not_an_error(
    app, make_initiative
):
    """Both pages showed no English text; Nadia's is added while Omar's save waits: his
    finds it (not a unique-constraint error, not hers overwritten)."""
    from initiatives import texts
    from initiatives.models import InitiativeText

    initiative_id = make_initiative(state=InitiativeState.DRAFT, texts={"sv": TEXT}).id

    def hold(first: sa.orm.Session) -> None:
        first.execute(sa.select(Initiative.id).with_for_update())
        first.add(InitiativeText(initiative_id=initiative_id, locale="en", **TEXT))

    outcome = _while_held(app, hold, _save_text_from_an_older_page("en"))
    assert outcome == [str(texts.CHANGED_SINCE)]
    with app.app_context():
        english = db.session.scalars(sa.select(InitiativeText).where(InitiativeText.locale == "en"))
        assert [t.title for t in english] == [TEXT["title"]]
