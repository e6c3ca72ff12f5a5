"""An organiser in a real browser, under the CSP: two-factor enrolment, the dashboard, a
stand tablet set up from the admin, the abuse review and campaign tags (checked by axe)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import expect

from initiatives import accounts, clock, signature_states
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import OutboxMessage, OutboxStatus, Signature, SignatureState

from ..admin_helpers import PASSWORD
from ..conftest import create_initiative
from ..print_tools import decode
from ..privacy_support import Spec, add_signatures
from .site import organiser_logs_in
from .test_kiosk_browser import PIN, TABLET

AXE = Axe()


def confirmed_signatures(app, rows: list[dict[str, str | None]]) -> int:
    """Confirmed signatures on the one initiative, from a name, maybe an email, and
    columns kept in the clear; returns the initiative's id."""
    with app.app_context():
        initiative_id = db.session.scalar(sa.text("SELECT id FROM initiatives"))
        box = crypto()
        for row in rows:
            fields = dict(row)
            db.session.add(
                Signature(
                    initiative_id=initiative_id,
                    name_enc=box.encrypt(fields.pop("name")),
                    email_enc=box.encrypt(fields.pop("email", None)),
                    **fields,
                )
            )
        db.session.commit()
        for signature in db.session.scalars(sa.select(Signature)).all():
            signature_states.confirm(signature)
        db.session.commit()
    return initiative_id


def test_nadia_turns_on_two_factor_and_watches_the_count(live_server, browser, artifacts):
    app = live_server.app
    create_initiative(app, opens_days_ago=6)
    confirmed_signatures(  # a few, some from the posters
        app,
        [
            {
                "name": f"Person {i}",
                "postcode_area": "212",
                "source_tag": "poster" if i % 2 else None,
            }
            for i in range(9)
        ],
    )
    page, violations = organiser_logs_in(browser, live_server, "nadia@example.org")

    page.get_by_role("link", name="Mitt konto").click()
    # Her password first: a session alone must not put a second factor on the account.
    page.get_by_label("Lösenord", exact=True).fill("inte mitt lösenord")
    page.get_by_role("button", name="Slå på tvåstegsverifiering").click()
    expect(page.get_by_role("link", name="Lösenordet stämmer inte.")).to_be_visible()
    assert AXE.run(page).response["violations"] == []
    page.get_by_label("Lösenord", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Slå på tvåstegsverifiering").click()
    # A click returns when the next page starts to load: what is read, measured and
    # screenshotted on it is waited for (the whole page, or expect()).
    page.wait_for_url(re.compile(r"/admin/account/2fa$"))
    qr = page.locator("svg.qr")
    assert qr.is_visible() and qr.bounding_box()["width"] > 150
    page.screenshot(path=str(artifacts / "admin-two-factor.png"), full_page=True)
    with app.app_context():
        secret = accounts.pending_secret(accounts.by_email("nadia@example.org"))
    page.get_by_label("Kod från appen").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Slå på").click()
    expect(page.get_by_text("Tvåstegsverifiering är på.")).to_be_visible()

    page.get_by_role("link", name="Initiativ", exact=True).click()
    page.get_by_role("link", name="Tryggare Amiralsgatan").click()
    page.wait_for_url(re.compile(r"/admin/initiatives/amiralsgatan$"))
    chart = page.locator("svg.chart")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() >= 1
    assert page.locator("text=poster").first.is_visible()
    page.screenshot(path=str(artifacts / "admin-dashboard.png"), full_page=True)

    page.get_by_role("button", name="Logga ut").click()
    page.wait_for_url(re.compile(r"/admin/login$"))
    assert violations == []
    page.context.close()


def test_samira_sets_up_a_stand_tablet_that_enrols_by_scanning_the_code(
    live_server, browser, artifacts
):
    """The admin shows the enrolment code and its QR code under the CSP; a real decoder
    reads the code off the screen, and the tablet that opens it is enrolled."""
    app = live_server.app
    create_initiative(app, opens_days_ago=6)
    page, violations = organiser_logs_in(browser, live_server, "samira@example.org")

    page.get_by_role("link", name="Surfplattor").click()
    page.get_by_role("link", name="Ny surfplatta").click()
    page.get_by_label("Namn").fill("Stand 1")
    page.get_by_label("Tryggare Amiralsgatan").check()
    page.get_by_role("button", name="Skapa och visa koden").click()
    # Read, decoded and screenshotted once the page has loaded (a click returns when it
    # starts to load).
    page.wait_for_url(re.compile(r"/admin/kiosks/\d+$"))
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
    page.wait_for_url(re.compile(r"/admin/kiosks$"))
    row = page.get_by_role("row", name=re.compile("Stand 1"))
    assert "ja" in row.inner_text() and "Tryggare Amiralsgatan" in row.inner_text()
    page.screenshot(path=str(artifacts / "admin-kiosks.png"), full_page=True)
    assert AXE.run(page).response["violations"] == []
    page.get_by_role("link", name="Stand 1").click()
    page.wait_for_url(re.compile(r"/admin/kiosks/\d+$"))
    assert page.locator(".enrol-code").count() == 0
    page.get_by_role("button", name="Återkalla Stand 1").click()
    screen.reload()
    screen.get_by_role("heading", name="Koppla surfplattan till en station").wait_for()
    assert violations == []
    tablet.close()
    page.context.close()


def test_the_review_and_campaign_pages_under_the_csp_and_axe(live_server, browser, artifacts):
    app = live_server.app
    create_initiative(app, opens_days_ago=6)
    initiative_id = confirmed_signatures(
        app,
        [
            {
                "name": f"Bot {i}",
                "email": f"x{i}@mailbot.example",
                "client_hash": "b0" * 32,
                "source_tag": "flyer",
            }
            for i in range(12)
        ],
    )
    page, violations = organiser_logs_in(browser, live_server, "lina@example.org")
    page.get_by_role("link", name="Tryggare Amiralsgatan").click()

    page.get_by_role("link", name="Granskning").click()
    # Read and checked by axe once each page has loaded (a click returns when it starts).
    page.wait_for_url(re.compile(r"/review$"))
    assert page.get_by_role("cell", name="mailbot.example").is_visible()
    assert AXE.run(page).response["violations"] == []
    page.get_by_role("row", name=re.compile("mailbot.example")).get_by_role(
        "link", name="Förhandsgranska"
    ).click()
    page.wait_for_url(re.compile(r"/review/preview"))
    assert page.locator("[data-confirmed]").inner_text() == "12"
    assert AXE.run(page).response["violations"] == []
    page.get_by_label("Anledning").select_option("automated")
    page.get_by_role("button", name="Ogiltigförklara 12 underskrifter").click()
    page.get_by_text("12 underskrifter är ogiltigförklarade och räknas inte").wait_for()
    page.wait_for_load_state()
    page.screenshot(path=str(artifacts / "admin-review.png"), full_page=True)
    assert AXE.run(page).response["violations"] == []
    with app.app_context():
        assert signature_states.confirmed_count(initiative_id) == 0

    page.get_by_role("link", name="Kampanjmaterial").click()
    page.get_by_label("Ny tagg").fill("bibliotek")
    page.get_by_role("button", name="Lägg till").click()
    expect(page.get_by_role("link", name="QR-kod (SVG) för bibliotek")).to_be_visible()
    page.wait_for_load_state()
    page.screenshot(path=str(artifacts / "admin-campaign.png"), full_page=True)
    assert AXE.run(page).response["violations"] == []
    assert violations == []
    page.context.close()


def test_the_start_page_warns_when_mail_is_behind_and_failing(live_server, browser, artifacts):
    app = live_server.app
    create_initiative(app)
    add_signatures(
        app,
        "amiralsgatan",
        [Spec(f"p{i}@example.org", state=SignatureState.PENDING) for i in range(3)],
    )
    with app.app_context():  # the worker has been down for half an hour; one mail failed
        half_an_hour_ago = clock.utcnow() - timedelta(minutes=30)
        db.session.execute(sa.update(OutboxMessage).values(created_at=half_an_hour_ago))
        first = db.session.scalar(sa.select(sa.func.min(OutboxMessage.id)))
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == first)
            .values(status=OutboxStatus.FAILED, attempts=12, last_error="SMTPDataError 451")
        )
        db.session.commit()
    page, violations = organiser_logs_in(browser, live_server, "amal@example.org")
    behind = page.get_by_text("E-posten ligger efter: 2 mejl väntar, det äldsta i 30 minuter")
    assert behind.is_visible()
    assert page.get_by_text("1 mejl kunde inte skickas det senaste dygnet").is_visible()
    page.screenshot(path=str(artifacts / "admin-start-mail-behind.png"), full_page=True)
    assert AXE.run(page).response["violations"] == []
    assert violations == []
    page.context.close()


def test_an_arabic_title_on_the_dashboard_reads_after_its_language(live_server, browser):
    """The dashboard lists each language, a colon, then the title written in it.  Beside
    the Arabic name, an Arabic title used to join it in one right-to-left run, so the
    title stood first on the line and the colon after the language's name."""
    title = "ملعب آمن في شارع فنتيل"
    create_initiative(
        live_server.app,
        texts={
            "sv": {"title": "En trygg lekplats", "summary": "Kort.", "body": "Text."},
            "ar": {"title": title, "summary": "قصير.", "body": "نص."},
        },
    )
    page, violations = organiser_logs_in(browser, live_server, "fatima@example.org")
    page.get_by_role("link", name="En trygg lekplats").click()
    page.wait_for_url(re.compile(r"/admin/initiatives/amiralsgatan$"))
    item = page.get_by_role("listitem").filter(has=page.get_by_role("link", name="العربية"))
    # Where the language's name and the title are drawn, from the left, on an LTR page.
    lefts = item.evaluate(
        """(li, title) => {
            const link = li.querySelector("a").getBoundingClientRect();
            const walker = document.createTreeWalker(li, NodeFilter.SHOW_TEXT);
            let node;
            while ((node = walker.nextNode()) && !node.data.includes(title)) {}
            const range = document.createRange();
            range.setStart(node, node.data.indexOf(title));
            range.setEnd(node, node.data.indexOf(title) + title.length);
            return [link.left, range.getBoundingClientRect().left];
        }""",
        title,
    )
    assert lefts[0] < lefts[1], lefts
    assert violations == []
    page.context.close()
