"""Every page an organiser reads, in a real browser: axe-core finds no WCAG violations,
the Content Security Policy is never broken, and a full-page screenshot of each lands in
the test artifacts (``admin-pages/``) for a person to look at.

The world has what makes each page show its real content: an initiative collecting
with web, stand and paper signatures (one flagged as a possible duplicate, one held for
review), a closed one ready to be handed in, a draft, a stand tablet, an audit trail.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
import sqlalchemy as sa

from initiatives import (
    clock,
    kiosks,
    lifecycle,
    pack,
    paper,
    signature_states,
    signatures,
    texts,
)
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import Initiative, InitiativeState, Signature

from ..conftest import create_initiative
from .site import AXE, describe, organiser_logs_in

pytestmark = pytest.mark.browser


def _world(app) -> dict[str, str]:
    """The data behind the pages; returns the path parameters they need."""
    create_initiative(app, "amiralsgatan", opens_days_ago=20)
    create_initiative(app, "stangd", state=InitiativeState.CLOSED, opens_days_ago=100)
    create_initiative(app, "utkast", state=InitiativeState.DRAFT)
    with app.app_context():
        initiative = db.session.scalars(
            sa.select(Initiative).where(Initiative.slug == "amiralsgatan")
        ).one()
        for i, name in enumerate(("Amina Hassan", "Emir Hadžić", "مريم أحمد", "Lars Ek")):
            signatures.sign(
                initiative,
                name=name,
                email=f"signer{i}@example.org",
                postcode="212 14",
                locale="sv",
                source_tag=None,
                text_hash=None,
                client_hash=None,
            )
        db.session.flush()
        for signature in db.session.scalars(sa.select(Signature)).all()[:3]:
            signature_states.confirm(signature)
        sheet = paper.add_sheet(
            initiative,
            "organiser@example.org",
            number="1",
            collected_on=(clock.utcnow() - timedelta(days=2)).date(),
            collected_by="Volontär Sara",
        )
        flagged, _matches = paper.add_row(
            sheet,
            "organiser@example.org",
            name="Amina Hassan",  # the same name as a web signature: flagged
            postcode="212 14",
            signed_on=(clock.utcnow() - timedelta(days=2)).date(),
        )
        paper.add_row(
            sheet,
            "organiser@example.org",
            name="Bosse Nilsson",
            postcode=None,
            signed_on=(clock.utcnow() - timedelta(days=2)).date(),
        )
        kiosk, _code = kiosks.create("Surfplatta 1", [initiative], actor="organiser@example.org")
        # A pack made of the collecting list: its page lists it, with its manifest's sum.
        with TemporaryDirectory() as out:
            pack.build(
                initiative,
                Path(out),
                names="short",
                generated_by="organiser@example.org",
                organisation="Nätverket i Rosengård",
                contact="kontakt@example.org",
            )
        db.session.commit()
        web = db.session.scalars(
            sa.select(Signature).where(Signature.name_enc.is_not(None)).order_by(Signature.id)
        ).first()
        assert crypto().decrypt(web.name_enc)
        return {
            "sheet": str(sheet.id),
            "row": str(flagged.signature_id),
            "signature": web.public_id,
            "kiosk": str(kiosk.id),
        }


def test_every_admin_page_passes_axe_under_the_csp(live_server, browser, artifacts):
    app = live_server.app
    ids = _world(app)
    page, csp_violations = organiser_logs_in(
        browser, live_server, "nadia@example.org", role="admin"
    )
    paths = {
        "start": "/admin/",
        "account": "/admin/account",
        "two-factor": "/admin/account/2fa",
        "accounts": "/admin/accounts",
        "new-initiative": "/admin/initiatives/new",
        "dashboard": "/admin/initiatives/amiralsgatan",
        "settings": "/admin/initiatives/amiralsgatan/settings",
        "text-sv": "/admin/initiatives/amiralsgatan/text/sv",
        "text-ar": "/admin/initiatives/amiralsgatan/text/ar",
        "preview": "/admin/initiatives/amiralsgatan/preview",
        "lifecycle": "/admin/initiatives/amiralsgatan/lifecycle",
        "audit": "/admin/initiatives/amiralsgatan/audit",
        "campaign": "/admin/initiatives/amiralsgatan/campaign",
        "signatures": "/admin/initiatives/amiralsgatan/signatures",
        "signatures-search": "/admin/initiatives/amiralsgatan/signatures?q=Amina",
        "signature": f"/admin/initiatives/amiralsgatan/signatures/{ids['signature']}",
        "review": "/admin/initiatives/amiralsgatan/review",
        "paper-sheets": "/admin/initiatives/amiralsgatan/paper",
        "paper-sheet": f"/admin/initiatives/amiralsgatan/paper/{ids['sheet']}",
        "paper-sheet-edit": f"/admin/initiatives/amiralsgatan/paper/{ids['sheet']}/edit",
        "paper-row-edit": (
            f"/admin/initiatives/amiralsgatan/paper/{ids['sheet']}/rows/{ids['row']}"
        ),
        "paper-review": "/admin/initiatives/amiralsgatan/paper/review",
        "pack-collecting": "/admin/initiatives/amiralsgatan/pack",
        "pack-closed": "/admin/initiatives/stangd/pack",
        "lifecycle-closed": "/admin/initiatives/stangd/lifecycle",
        "draft-dashboard": "/admin/initiatives/utkast",
        "kiosks": "/admin/kiosks",
        "new-kiosk": "/admin/kiosks/new",
        "kiosk": f"/admin/kiosks/{ids['kiosk']}",
    }
    folder = artifacts / "admin-pages"
    folder.mkdir(exist_ok=True)
    problems = []

    def check(name: str, path: str) -> None:
        assert page.locator("html").get_attribute("lang") == "sv"
        assert page.locator("main h1").count() == 1, f"{name}: one main heading"
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        violations = AXE.run(page).response["violations"]
        if violations:
            problems.append(f"{name} ({path}):\n{describe(violations)}")

    for name, path in paths.items():
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, (name, path)
        check(name, path)

    # A text saved by another organiser since the page was opened: the refused save
    # shows the stored text above what was typed.
    path = "/admin/initiatives/utkast/text/sv"
    page.goto(live_server.url + path)
    with app.app_context():
        draft = db.session.scalars(sa.select(Initiative).where(Initiative.slug == "utkast")).one()
        texts.set_text(
            draft, "omar@example.org", "sv", title="Omars rubrik",
            summary="Omars sammanfattning.", body="Omars förslag.\n\nOch ett stycke till.",
        )  # fmt: skip
        db.session.commit()
    page.get_by_label("Förslaget").fill("Nadias förslag.")
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.get_by_role("button", name="Spara texten").click()
    assert sent.value.status == 409
    page.wait_for_load_state()
    check("text-conflict", path)

    # Published by another organiser while the draft's page was open: the save is refused
    # and the page comes back with the reason field a correction needs.
    with app.app_context():
        draft = db.session.scalars(sa.select(Initiative).where(Initiative.slug == "utkast")).one()
        lifecycle.publish(draft, "omar@example.org")
        db.session.commit()
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.get_by_role("button", name="Spara texten").click()
    assert sent.value.status == 409
    page.wait_for_load_state()
    assert page.get_by_text("Initiativet har publicerats sedan du öppnade sidan").is_visible()
    assert page.get_by_label("Förslaget").input_value() == "Nadias förslag."
    assert page.get_by_label("Vad rättas och varför").is_visible()
    check("text-published-since", path)
    assert not problems, "\n\n".join(problems)
    assert csp_violations == []
    page.context.close()
