"""An organiser in a real browser, under the CSP: two-factor enrolment, the dashboard, a
stand tablet set up from the admin, the abuse review and campaign tags (checked by axe)."""

from __future__ import annotations

import io
import re

import pyotp
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from PIL import Image

from initiatives import accounts, signatures
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import Signature

from ..admin_helpers import PASSWORD, create_admin
from ..conftest import create_initiative
from ..print_tools import decode
from .test_kiosk_browser import PIN, TABLET

AXE = Axe()


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


def test_samira_sets_up_a_stand_tablet_that_enrols_by_scanning_the_code(
    live_server, browser, artifacts
):
    """The admin shows the enrolment code and its QR code under the CSP; a real decoder
    reads the code off the screen, and the tablet that opens it is enrolled."""
    app = live_server.app
    create_initiative(app, opens_days_ago=6)
    create_admin(app, "samira@example.org", role="organiser")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    organiser_logs_in(page, live_server.url, "samira@example.org")
    page.wait_for_url(re.compile(r"/admin/$"))

    page.get_by_role("link", name="Surfplattor").click()
    page.get_by_role("link", name="Ny surfplatta").click()
    page.get_by_label("Namn").fill("Stand 1")
    page.get_by_label("Tryggare Amiralsgatan").check()
    page.get_by_role("button", name="Skapa och visa koden").click()
    code = page.locator(".enrol-code code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    qr = page.get_by_role("img", name=re.compile("QR-kod till"))
    assert qr.is_visible() and qr.bounding_box()["width"] > 150
    page.screenshot(path=str(artifacts / "admin-kiosk-code.png"), full_page=True)
    [url] = decode(Image.open(io.BytesIO(qr.screenshot())))
    assert url == f"{live_server.url}/kiosk/enrol/{code.replace('-', '')}"
    assert AXE.run(page).response["violations"] == []

    # The volunteer scans it: the code is filled in, they choose a PIN.
    tablet = browser.new_context(viewport=TABLET, locale="sv-SE")
    screen = tablet.new_page()
    screen.goto(url)
    assert screen.get_by_label("Kod", exact=True).input_value() == code
    screen.get_by_label("Välj en PIN-kod").fill(PIN)
    screen.get_by_label("Skriv PIN-koden igen").fill(PIN)
    screen.get_by_role("button", name="Koppla surfplattan").click()
    screen.get_by_role("heading", name="Välj språk för att skriva under").wait_for()

    # The organiser's list now says the tablet is enrolled; the code is gone.
    page.get_by_role("link", name="Alla surfplattor").click()
    row = page.get_by_role("row", name=re.compile("Stand 1"))
    assert "ja" in row.inner_text() and "Tryggare Amiralsgatan" in row.inner_text()
    page.screenshot(path=str(artifacts / "admin-kiosks.png"), full_page=True)
    assert AXE.run(page).response["violations"] == []
    page.get_by_role("link", name="Stand 1").click()
    assert page.locator(".enrol-code").count() == 0
    page.get_by_role("button", name="Återkalla Stand 1").click()
    screen.reload()
    screen.get_by_role("heading", name="Koppla surfplattan till en station").wait_for()
    assert violations == []
    tablet.close()
    context.close()


def test_the_review_and_campaign_pages_under_the_csp_and_axe(live_server, browser, artifacts):
    app = live_server.app
    create_initiative(app, opens_days_ago=6)
    with app.app_context():
        initiative_id = db.session.scalar(sa.text("SELECT id FROM initiatives"))
        box = crypto()
        for i in range(12):
            db.session.add(
                Signature(
                    initiative_id=initiative_id,
                    name_enc=box.encrypt(f"Bot {i}"),
                    email_enc=box.encrypt(f"x{i}@mailbot.example"),
                    client_hash="b0" * 32,
                    source_tag="flyer",
                )
            )
        db.session.commit()
        for signature in db.session.scalars(sa.select(Signature)).all():
            signatures.confirm(signature)
        db.session.commit()
    create_admin(app, "lina@example.org", role="organiser")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    organiser_logs_in(page, live_server.url, "lina@example.org")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.get_by_role("link", name="Tryggare Amiralsgatan").click()

    page.get_by_role("link", name="Granskning").click()
    assert page.get_by_role("cell", name="mailbot.example").is_visible()
    assert AXE.run(page).response["violations"] == []
    page.get_by_role("row", name=re.compile("mailbot.example")).get_by_role(
        "link", name="Förhandsgranska"
    ).click()
    assert page.locator("[data-confirmed]").inner_text() == "12"
    assert AXE.run(page).response["violations"] == []
    page.get_by_label("Anledning").select_option("automated")
    page.get_by_role("button", name="Ogiltigförklara 12 underskrifter").click()
    page.get_by_text("12 underskrifter är ogiltigförklarade och räknas inte").wait_for()
    page.screenshot(path=str(artifacts / "admin-review.png"), full_page=True)
    assert AXE.run(page).response["violations"] == []
    with app.app_context():
        assert signatures.confirmed_count(initiative_id) == 0

    page.get_by_role("link", name="Kampanjmaterial").click()
    page.get_by_label("Ny tagg").fill("bibliotek")
    page.get_by_role("button", name="Lägg till").click()
    assert page.get_by_role("link", name="QR-kod (SVG) för bibliotek").is_visible()
    page.screenshot(path=str(artifacts / "admin-campaign.png"), full_page=True)
    assert AXE.run(page).response["violations"] == []
    assert violations == []
    context.close()
