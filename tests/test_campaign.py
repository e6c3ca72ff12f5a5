"""Campaign tags: which ``?src=`` values count, the organisers' commands, and the counts
per tag and channel."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from flask_babel import force_locale

from initiatives import campaign, signature_states, signatures
from initiatives.extensions import db
from initiatives.models import Channel, Initiative, Signature, SignatureState

from .concurrency_helpers import PG, wait_for_lock_waiters
from .conftest import CSRF_RE, link_path, links_in


def load(slug: str = "amiralsgatan") -> Initiative:
    return db.session.scalars(sa.select(Initiative).where(Initiative.slug == slug)).one()


def source_tags(app) -> list[str | None]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Signature.source_tag).order_by(Signature.id)))


def test_new_initiatives_get_the_default_tags(app, make_initiative):
    make_initiative()
    with app.app_context():
        assert campaign.tags(load()) == ["qr", "poster", "flyer", "stand"]


def test_organisers_add_and_remove_tags_of_their_own(app, make_initiative):
    make_initiative()
    with app.app_context():
        initiative = load()
        assert campaign.add_tag(initiative, "  Bibliotek-2 ") == "bibliotek-2"
        assert campaign.add_tag(initiative, "bibliotek-2") == "bibliotek-2"  # no duplicate
        db.session.commit()
    with app.app_context():
        initiative = load()
        assert campaign.tags(initiative) == ["qr", "poster", "flyer", "stand", "bibliotek-2"]
        campaign.remove_tag(initiative, "stand")
        db.session.commit()
    with app.app_context():
        assert campaign.tags(load()) == ["qr", "poster", "flyer", "bibliotek-2"]


def test_malformed_tags_are_refused_with_a_reason(app, make_initiative):
    make_initiative()
    bad = ["", "-poster", "poster_a", "affisch på dörren", "x" * 33, "åhus", "a/b", "a\x00"]
    with app.app_context(), force_locale("sv"):
        initiative = load()
        for value in bad:
            try:
                campaign.add_tag(initiative, value)
            except campaign.TagError as exc:
                assert "1–32 tecken" in str(exc)
            else:
                raise AssertionError(f"{value!r} was accepted")
        assert campaign.add_tag(initiative, "x" * 32) == "x" * 32
        assert campaign.tags(initiative)[-1] == "x" * 32


def test_the_screen_tag_cannot_be_removed_and_unknown_tags_are_reported(app, make_initiative):
    make_initiative()
    with app.app_context(), force_locale("sv"):
        initiative = load()
        for value, expected in (("qr", "kan inte tas bort"), ("nope", "ingen tagg")):
            try:
                campaign.remove_tag(initiative, value)
            except campaign.TagError as exc:
                assert expected in str(exc)
            else:
                raise AssertionError(f"removing {value!r} was allowed")


def test_the_number_of_tags_is_bounded(app, make_initiative):
    make_initiative()
    with app.app_context(), force_locale("sv"):
        initiative = load()
        for n in range(campaign.MAX_TAGS - 4):
            campaign.add_tag(initiative, f"plats-{n}")
        try:
            campaign.add_tag(initiative, "en-till")
        except campaign.TagError as exc:
            assert str(campaign.MAX_TAGS) in str(exc)
        else:
            raise AssertionError("more tags than the maximum were accepted")


@PG
def test_two_organisers_changing_tags_at_once_keep_both_changes(app, make_initiative):
    """One organiser adds a tag for the library while another adds one for a laundry
    room: the second waits for the first and adds to the list it left, instead of
    writing back the list it read before (the library's tag was lost, its posters
    counted nothing)."""
    make_initiative()
    errors: list[BaseException] = []

    def add() -> None:
        with app.app_context():
            try:
                campaign.add_tag(load(), "tvattstuga-3", actor="hodan@example.org")
                db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    with app.app_context(), db.engine.connect() as first, db.engine.connect() as watcher:
        # The first organiser's transaction, holding the row while it adds "bibliotek".
        where = Initiative.slug == "amiralsgatan"
        first.execute(sa.select(Initiative.id).where(where).with_for_update())
        first.execute(
            sa.update(Initiative)
            .where(where)
            .values(campaign_tags=["qr", "poster", "flyer", "stand", "bibliotek"])
        )
        thread = threading.Thread(target=add)
        thread.start()
        wait_for_lock_waiters(watcher, 1)
        first.commit()
    thread.join(timeout=120)
    assert not errors, errors
    with app.app_context():
        assert campaign.tags(load())[-2:] == ["bibliotek", "tvattstuga-3"]


def test_only_the_initiatives_own_tags_are_recorded(app, client, make_initiative, sign):
    make_initiative()
    with app.app_context():
        campaign.add_tag(load(), "bibliotek")
        db.session.commit()
    page = client.get("/i/amiralsgatan?src=nope")
    assert page.status_code == 200  # an unknown tag never breaks the page
    assert 'name="src" type="hidden" value=""' in page.get_data(as_text=True)

    sign(src="poster", email="a@example.org")
    sign(src="Bibliotek", email="b@example.org")  # typed from a poster: case does not matter
    sign(src="nope", email="c@example.org")
    sign(src="poster_2", email="d@example.org")  # a forged form value is not stored either
    sign(email="e@example.org")
    assert source_tags(app) == ["poster", "bibliotek", None, None, None]


def test_a_removed_tag_is_no_longer_recorded_but_keeps_its_count(
    app, make_initiative, sign, deliver
):
    make_initiative()
    with app.app_context():
        initiative = load()
        campaign.add_tag(initiative, "festival")
        result = signatures.sign(
            initiative, name="A", email="a@example.org", locale="sv", source_tag="festival"
        )
        signature_states.confirm(result.signature)
        campaign.remove_tag(initiative, "festival")
        db.session.commit()
    sign(src="festival", email="b@example.org")
    assert source_tags(app) == ["festival", None]
    with app.app_context():
        stats = campaign.stats(load())
        assert ("festival", 1) in stats.by_tag
        assert stats.by_tag[-1] == (None, 0)


def _confirm_by_mail(client, smtp, deliver, nth: int) -> None:
    deliver()
    mail = smtp.wait_for(nth)[nth - 1]
    [url] = [u for u in links_in(mail) if "/confirm/" in u]
    token = CSRF_RE.search(client.get(link_path(url)).get_data(as_text=True)).group(1)
    assert client.post(link_path(url), data={"csrf_token": token}).status_code == 303


def test_a_signature_made_through_the_poster_link_counts_under_poster(
    app, client, make_initiative, sign, deliver, smtp
):
    """Scan → page with ?src=poster → sign → confirm by mail → counted under poster."""
    make_initiative()
    assert sign(src="poster", email="hassan@example.org").status_code == 303
    _confirm_by_mail(client, smtp, deliver, 1)
    assert sign(src="flyer", email="yusuf@example.org").status_code == 303  # never confirmed

    result = app.test_cli_runner().invoke(args=["stats", "amiralsgatan"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[-1] for line in result.output.splitlines()[2:]}
    assert lines["poster"] == "1"
    assert lines["flyer"] == "0"  # pending signatures are not counted
    assert lines["qr"] == "0" and lines["stand"] == "0"
    assert lines["web"] == "1" and lines["kiosk"] == "0" and lines["paper"] == "0"
    assert "1 confirmed signatures" in result.output
    assert "hassan" not in result.output.lower()  # counts only, never who


def test_stats_count_per_tag_and_channel_without_personal_data(app, make_initiative):
    make_initiative()
    make_initiative("annat")
    with app.app_context():
        initiative, other = load(), load("annat")
        made = [
            (initiative, Channel.WEB, "poster"),
            (initiative, Channel.WEB, "poster"),
            (initiative, Channel.WEB, None),
            (initiative, Channel.KIOSK, "stand"),
            (initiative, Channel.PAPER, None),
            (other, Channel.WEB, "poster"),  # another initiative's signature
        ]
        for n, (target, channel, tag) in enumerate(made):
            result = signatures.sign(
                target,
                name=f"Person {n}",
                email=f"p{n}@example.org",
                locale="sv",
                channel=channel,
                source_tag=tag,
            )
            signature_states.confirm(result.signature)
        signatures.sign(initiative, name="P", email="pending@example.org", locale="sv")
        db.session.commit()

        stats = campaign.stats(load())
        assert stats.confirmed == 5
        # The paper row has no tag, but it is not "a link passed on": only per channel.
        assert stats.by_tag == [("qr", 0), ("poster", 2), ("flyer", 0), ("stand", 1), (None, 1)]
        assert stats.by_channel == [("web", 3), ("kiosk", 1), ("paper", 1)]
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(Signature.state == SignatureState.CONFIRMED)
            )
            == 6
        )


def test_tags_commands_add_list_and_remove(app, make_initiative):
    make_initiative()
    runner = app.test_cli_runner()
    added = runner.invoke(args=["tags", "add", "amiralsgatan", "Bibliotek"])
    assert added.exit_code == 0, added.output
    assert "http://localhost/i/amiralsgatan?src=bibliotek" in added.output
    listed = runner.invoke(args=["tags", "list", "amiralsgatan"])
    assert [line.split()[0] for line in listed.output.splitlines()] == [
        "qr", "poster", "flyer", "stand", "bibliotek",
    ]  # fmt: skip
    assert runner.invoke(args=["tags", "remove", "amiralsgatan", "stand"]).exit_code == 0
    with app.app_context():
        assert campaign.tags(load()) == ["qr", "poster", "flyer", "bibliotek"]


def test_tags_commands_refuse_bad_input_with_a_message(app, make_initiative):
    make_initiative()
    runner = app.test_cli_runner()
    cases = [
        (["tags", "add", "amiralsgatan", "två ord"], "1–32 tecken"),
        (["tags", "remove", "amiralsgatan", "qr"], "kan inte tas bort"),
        (["tags", "remove", "amiralsgatan", "finns-inte"], "ingen tagg"),
        (["tags", "list", "finns-inte"], "no initiative"),
        (["stats", "finns-inte"], "no initiative"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
    with app.app_context():
        assert campaign.tags(load()) == ["qr", "poster", "flyer", "stand"]
