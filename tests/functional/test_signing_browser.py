"""Persona scenarios in a real browser: residents signing on their own phones."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ..conftest import create_initiative, link_path, links_in


def test_amira_scans_a_poster_signs_on_her_phone_and_confirms(live_server, page, smtp):
    create_initiative(live_server.app)
    page.goto(f"{live_server.url}/i/amiralsgatan?src=poster")
    page.get_by_label("Namn").fill("Amira Hassan")
    page.get_by_label("E-postadress").fill("amira@example.org")
    page.get_by_label("Postnummer (frivilligt)").fill("212 14")
    page.get_by_label("Jag är folkbokförd i Malmö.").check()
    page.get_by_label(re.compile("Jag samtycker")).check()
    page.get_by_role("button", name="Skriv under").click()
    page.wait_for_url(re.compile(r"/thanks$"))
    assert page.get_by_role("heading", name="Kolla din e-post").is_visible()

    from initiatives import outbox
    from initiatives.mail import compose

    with live_server.app.app_context():
        assert outbox.deliver_due(live_server.app, compose).sent == 1
    [mail] = smtp.wait_for(1)
    confirm = next(u for u in links_in(mail) if "/confirm/" in u)
    page.goto(live_server.url + link_path(confirm))
    # She sees whose signature the button confirms: hers, as she typed it.
    expect(page.locator("dl.facts")).to_contain_text("Amira Hassan")
    expect(page.locator("dl.facts")).to_contain_text("212 14")
    page.get_by_role("button", name="Bekräfta min underskrift").click()
    # expect() waits: the click returns when the next page starts to load.
    expect(page.get_by_role("heading", name="Tack! Din underskrift räknas")).to_be_visible()
    expect(page.locator(".progress-count strong")).to_contain_text("1")


def test_errors_are_summarised_and_focus_moves_to_the_summary(live_server, page):
    create_initiative(live_server.app)
    page.goto(f"{live_server.url}/i/amiralsgatan")
    page.get_by_role("button", name="Skriv under").click()
    summary = page.locator(".error-summary")
    # expect() waits (the focus is moved by a deferred script once the page has loaded).
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    summary.get_by_role("link", name="Skriv ditt namn.").click()
    expect(page.locator("#name")).to_be_focused()
