"""An organiser in a real browser: two-factor enrolment and the dashboard, under the CSP."""

from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa

from initiatives import accounts, signatures
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import Signature

from ..admin_helpers import PASSWORD, create_admin
from ..conftest import create_initiative


def organiser_logs_in(page, url: str, email: str) -> None:
    page.goto(f"{url}/admin/")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()


def test_nadia_turns_on_two_factor_and_watches_the_count(live_server, browser, artifacts):
    app = live_server.app
    create_initiative(app, opens_days_ago=6)
    with app.app_context():  # a few confirmed signatures spread over the week
        initiative_id = db.session.scalar(sa.text("SELECT id FROM initiatives"))
        box = crypto()
        for i in range(9):
            db.session.add(
                Signature(
                    initiative_id=initiative_id,
                    name_enc=box.encrypt(f"Person {i}"),
                    postcode_area="212",
                    source_tag="poster" if i % 2 else None,
                )
            )
        db.session.commit()
        for signature in db.session.scalars(sa.select(Signature)).all():
            signatures.confirm(signature)
        db.session.commit()
    create_admin(app, "nadia@example.org", role="organiser")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    organiser_logs_in(page, live_server.url, "nadia@example.org")
    page.wait_for_url(re.compile(r"/admin/$"))

    page.get_by_role("link", name="Mitt konto").click()
    page.get_by_role("button", name="Slå på tvåstegsverifiering").click()
    qr = page.locator("svg.qr")
    assert qr.is_visible() and qr.bounding_box()["width"] > 150
    page.screenshot(path=str(artifacts / "admin-two-factor.png"), full_page=True)
    with app.app_context():
        secret = accounts.pending_secret(accounts.by_email("nadia@example.org"))
    page.get_by_label("Kod från appen").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Slå på").click()
    assert page.get_by_text("Tvåstegsverifiering är på.").is_visible()

    page.get_by_role("link", name="Initiativ", exact=True).click()
    page.get_by_role("link", name="Tryggare Amiralsgatan").click()
    chart = page.locator("svg.chart")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() >= 1
    assert page.locator("text=poster").first.is_visible()
    page.screenshot(path=str(artifacts / "admin-dashboard.png"), full_page=True)

    page.get_by_role("button", name="Logga ut").click()
    page.wait_for_url(re.compile(r"/admin/login$"))
    assert violations == []
    context.close()
