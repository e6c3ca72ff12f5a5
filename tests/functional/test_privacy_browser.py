"""Persona scenario in a real browser: a signer asks what is stored about her, and
withdraws from the report.  The privacy pages pass axe-core."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from initiatives import outbox
from initiatives.mail import compose

from ..conftest import create_initiative, link_path, links_in
from ..privacy_support import Spec, add_signatures


def deliver(app) -> None:
    with app.app_context():
        outbox.deliver_due(app, compose)


def assert_accessible(page, name: str) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, f"{name}: {results.generate_report()}"


def test_hodan_asks_what_is_stored_and_withdraws_from_the_report(
    live_server, page, smtp, artifacts
):
    app = live_server.app
    create_initiative(app)
    add_signatures(app, "amiralsgatan", [Spec("hodan@example.org", "Hodan Warsame")])
    deliver(app)
    smtp.clear()

    page.goto(f"{live_server.url}/privacy")
    assert page.get_by_role("heading", name="Listan blir en allmän handling").is_visible()
    assert_accessible(page, "privacy notice")
    page.screenshot(path=str(artifacts / "privacy-notice.png"), full_page=True)

    page.get_by_role("link", name="Få veta vad vi sparar om dig (registerutdrag)").click()
    page.get_by_role("button", name="Skicka mina uppgifter").click()
    # A click returns when the next page starts to load: its content is waited for, and
    # the whole page (stylesheets too) before axe looks at it.
    expect(page.locator(".error-summary")).to_be_visible()  # no address given
    page.wait_for_load_state()
    assert_accessible(page, "data request with errors")

    page.get_by_label("E-postadress").fill("hodan@example.org")
    page.get_by_role("button", name="Skicka mina uppgifter").click()
    page.wait_for_url(re.compile(r"/privacy/request/sent$"))
    assert page.get_by_role("heading", name="Kolla din e-post").is_visible()
    assert_accessible(page, "data request sent")

    deliver(app)
    [report] = smtp.wait_for(1)
    text = report.get_body(preferencelist=("plain",)).get_content()
    assert "Hodan Warsame" in text and "bekräftad, den räknas" in text
    withdraw = next(u for u in links_in(report) if "/withdraw/" in u)
    page.goto(live_server.url + link_path(withdraw))
    page.get_by_role("button", name="Återkalla min underskrift").click()
    expect(page.get_by_role("heading", name="Din underskrift är återkallad")).to_be_visible()
