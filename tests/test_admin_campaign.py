"""Campaign tags in the admin, on SQLite and PostgreSQL: add and remove tags, links to
each tag's QR code and print material, and confirmed signatures per tag (zeros too)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from initiatives import signature_states
from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative, InitiativeState, Signature

from .admin_helpers import logged_in, post_form

PAGE = "/admin/initiatives/amiralsgatan/campaign"
DASHBOARD = "/admin/initiatives/amiralsgatan"


def confirm_all(app) -> None:
    with app.app_context():
        for signature in db.session.scalars(sa.select(Signature)).all():
            signature_states.confirm(signature)
        db.session.commit()


def tags(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Initiative.campaign_tags)).one())


def row_of(page: str, tag: str) -> str:
    """The table row whose first cell is ``tag`` (as a <code>)."""
    return page.split(f"<td><code>{tag}</code>", 1)[1].split("</tr>", 1)[0]


def source_counts(dashboard: str) -> dict[str, tuple[int, int]]:
    """The dashboard's per-source table: tag → (confirmed, all)."""
    table = dashboard.split('id="src-h"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<tr><td>([^<]+?)(?: <span class="tag">[^<]+</span>)?</td>'
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td></tr>',
        table,
    )
    return {tag: (int(ok), int(total)) for tag, ok, total in rows}


def test_an_organiser_adds_a_tag_and_sees_what_each_material_brought(app, make_initiative, sign):
    make_initiative()
    organiser = logged_in(app, role="organiser", email="hodan@example.org")

    # The default tags are there, each with its QR code, poster and flyer, and 0 so far.
    page = organiser.get(PAGE).get_data(as_text=True)
    for tag in ("qr", "poster", "flyer", "stand"):
        row = row_of(page, tag)
        assert re.search(r'<td class="num">0</td>', row), tag
        assert f"http://localhost/i/amiralsgatan?src={tag}" in row
        for link in (
            f"/i/amiralsgatan/qr.svg?src={tag}",
            f"/i/amiralsgatan/qr.png?src={tag}&amp;size=1200",
            f"/i/amiralsgatan/poster.pdf?src={tag}",
            f"/i/amiralsgatan/flyer.pdf?src={tag}",
            f"/i/amiralsgatan/flyer.pdf?src={tag}&amp;sheet=a4",
        ):
            assert f'href="{link}"' in row, link

    # A tag of their own, typed carelessly: it is normalised, logged and has a QR code.
    added = post_form(organiser, PAGE, f"{PAGE}/tags", tag="  Bibliotek ")
    assert added.status_code == 302
    assert tags(app) == ["qr", "poster", "flyer", "stand", "bibliotek"]
    assert organiser.get("/i/amiralsgatan/qr.svg?src=bibliotek").status_code == 200
    poster = organiser.get("/i/amiralsgatan/poster.pdf?src=bibliotek")
    assert poster.status_code == 200 and poster.data.startswith(b"%PDF")
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "campaign.tag_added")
        ).one()
        assert event.actor == "hodan@example.org" and event.details == {"tag": "bibliotek"}

    # Residents sign from the new poster and from the flyer; confirmed ones count per tag.
    sign(src="bibliotek", email="a@example.org")
    sign(src="bibliotek", email="b@example.org")
    sign(src="flyer", email="c@example.org")
    confirm_all(app)
    sign(src="bibliotek", email="d@example.org")  # not confirmed yet
    page = organiser.get(PAGE).get_data(as_text=True)
    assert '<td class="num">2</td>' in row_of(page, "bibliotek")
    assert '<td class="num">1</td>' in row_of(page, "flyer")
    dashboard = organiser.get(DASHBOARD).get_data(as_text=True)
    assert source_counts(dashboard) == {
        "bibliotek": (2, 3),
        "flyer": (1, 1),
        "poster": (0, 0),  # unused material shows, with zeros
        "qr": (0, 0),
        "stand": (0, 0),
    }
    assert f'href="{PAGE}"' in dashboard

    # Removing a tag keeps what was counted under it, marked as removed.
    removed = post_form(organiser, PAGE, f"{PAGE}/tags/bibliotek/remove")
    assert removed.status_code == 302
    assert "bibliotek" not in tags(app)
    page = organiser.get(PAGE).get_data(as_text=True)
    assert '<span class="tag">borttagen</span>' in row_of(page, "bibliotek")
    assert "/qr.svg?src=bibliotek" not in page
    dashboard = organiser.get(DASHBOARD).get_data(as_text=True)
    assert source_counts(dashboard)["bibliotek"] == (2, 3)
    assert 'bibliotek <span class="tag">borttagen</span>' in dashboard


def test_paper_rows_are_not_counted_as_links_passed_on(app, make_initiative, sign):
    """Organisers judge their material by this table: paper and the stand tablet carry
    no tag because they are not links, not because someone passed a link on."""
    from initiatives.models import Channel

    from .privacy_support import Spec, add_signatures

    make_initiative()
    add_signatures(
        app,
        "amiralsgatan",
        [Spec(f"p{i}@example.org", channel=Channel.PAPER) for i in range(3)]
        + [Spec("k@example.org", channel=Channel.KIOSK), Spec("w@example.org")],
    )
    client = logged_in(app)
    page = client.get("/admin/initiatives/amiralsgatan/campaign").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td><em>\(ingen tagg[^<]*</em></td>\s*<td class=\"num\">(\d+)", page)
    assert row is not None and row.group(1) == "1"  # the one web signature without a tag


def test_bad_tags_and_the_screen_tag_are_refused_with_a_message(app, make_initiative):
    make_initiative()
    organiser = logged_in(app, role="organiser")
    for bad in ("", "-börjar", "två ord", "x" * 33, "<script>", "\x00"):
        response = post_form(organiser, PAGE, f"{PAGE}/tags", tag=bad)
        assert response.status_code == 400, bad
        assert "error-summary" in response.get_data(as_text=True), bad
    assert tags(app) == ["qr", "poster", "flyer", "stand"]

    refused = post_form(organiser, PAGE, f"{PAGE}/tags/qr/remove")
    assert refused.status_code == 302
    assert "kan inte tas bort" in organiser.get(PAGE).get_data(as_text=True)
    missing = post_form(organiser, PAGE, f"{PAGE}/tags/finns-inte/remove")
    assert missing.status_code == 302
    assert "ingen tagg som heter finns-inte" in organiser.get(PAGE).get_data(as_text=True)
    assert tags(app) == ["qr", "poster", "flyer", "stand"]
    assert organiser.get("/admin/initiatives/no-such/campaign").status_code == 404


def test_a_draft_has_tags_but_no_material_yet_and_a_closed_one_prints_nothing(app, make_initiative):
    make_initiative("utkast", state=InitiativeState.DRAFT)
    make_initiative("stangd", state=InitiativeState.CLOSED)
    organiser = logged_in(app, role="organiser")
    draft = organiser.get("/admin/initiatives/utkast/campaign").get_data(as_text=True)
    assert "när initiativet är publicerat" in draft and "qr.svg" not in draft
    assert post_form(
        organiser, "/admin/initiatives/utkast/campaign", "/admin/initiatives/utkast/campaign/tags",
        tag="festival",
    ).status_code == 302  # fmt: skip
    closed = organiser.get("/admin/initiatives/stangd/campaign").get_data(as_text=True)
    assert "qr.svg?src=poster" in closed and "poster.pdf" not in closed


def test_a_draft_withdrawn_unpublished_offers_no_qr_codes(app):
    """Its public page never existed: its QR codes would lead nowhere."""
    from initiatives import lifecycle
    from initiatives.extensions import db

    with app.app_context():
        draft = lifecycle.create_draft("test", slug="utkast", threshold=100, period_months=6)
        lifecycle.withdraw(draft, "test", reason="Vi väntar")
        db.session.commit()
    organiser = logged_in(app, role="organiser")
    page = organiser.get("/admin/initiatives/utkast/campaign").get_data(as_text=True)
    assert "qr.svg" not in page
