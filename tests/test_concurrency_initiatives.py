"""Races over an initiative: a withdrawal meeting the hand-in, two drafts taking one
address, one kiosk created twice, two organisers saving one text.  On PostgreSQL, where
the requests truly overlap; each loser gets a message, never a server error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.models import Initiative, InitiativeState

from .concurrency_helpers import PG, wait_for_lock_waiters, while_held


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
        wait_for_lock_waiters(watcher, 1)
        hand_in.commit()
    thread.join(timeout=120)
    assert outcome == ["refused"]
    with app.app_context():
        assert db.session.scalars(sa.select(Initiative.state)).one() == "submitted"


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

    return while_held(app, hold, run)


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

    outcome = while_held(app, hold, create)
    assert len(outcome) == 1 and isinstance(outcome[0], tuple), outcome  # not a DB error
    exit_code, output, error = outcome[0]
    assert exit_code == 1 and error == "SystemExit", output
    assert "A kiosk called 'Stand 1' exists" in output and "Traceback" not in output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(kiosks.Kiosk.id))) == 1


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

    outcome = while_held(app, hold, _save_text_from_an_older_page("sv"))
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

    outcome = while_held(app, hold, _save_text_from_an_older_page("en"))
    assert outcome == [str(texts.CHANGED_SINCE)]
    with app.app_context():
        english = db.session.scalars(sa.select(InitiativeText).where(InitiativeText.locale == "en"))
        assert [t.title for t in english] == [TEXT["title"]]
