"""The QR code and the share box in a real browser: Chromium rasterises the SVG, a real
decoder reads it; the copy button works under our Content-Security-Policy and nothing is
loaded from another site."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from ..conftest import create_initiative


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Any]:
    """A phone-sized page that may use the clipboard, and a record of what it loaded
    and of what the console said."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="sv-SE",
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    page.requests = []
    page.console = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("console", lambda message: page.console.append(message.text))
    yield page
    context.close()


def test_chromium_renders_the_svg_and_it_decodes_to_the_tagged_link(live_server, phone, artifacts):
    create_initiative(live_server.app)
    response = phone.goto(f"{live_server.url}/i/amiralsgatan/qr.svg?src=stand")
    assert response.status == 200
    # Opened directly, the SVG is a document under our CSP: it must still draw.
    png = phone.locator("svg").screenshot()
    (artifacts / "qr-svg-in-chromium.png").write_bytes(png)
    assert decode(png) == [f"{live_server.url}/i/amiralsgatan?src=stand"]
    assert not [m for m in phone.console if "Content Security Policy" in m]


def test_resident_copies_the_link_and_shows_the_code_from_the_initiative_page(
    live_server, phone, artifacts
):
    create_initiative(live_server.app)
    phone.goto(f"{live_server.url}/i/amiralsgatan?src=poster")
    share = phone.get_by_role("region", name="Dela initiativet")
    share.scroll_into_view_if_needed()

    qr = share.get_by_role("img", name="QR-kod till den här sidan")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    png = qr.screenshot()
    (artifacts / "share-qr-on-initiative-page.png").write_bytes(png)
    assert decode(png) == [f"{live_server.url}/i/amiralsgatan?src=qr"]

    # The link to pass on carries no tag: it is not printed material.
    link = share.get_by_label("Länk till initiativet")
    assert link.input_value() == f"{live_server.url}/i/amiralsgatan"
    share.get_by_role("button", name="Kopiera länken").click()
    expect(share.get_by_role("status")).to_have_text("Länken är kopierad.")
    assert phone.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/i/amiralsgatan"
    share.screenshot(path=str(artifacts / "share-box.png"))

    whatsapp = share.get_by_role("link", name="Dela på WhatsApp")
    assert whatsapp.get_attribute("href").startswith("https://wa.me/?text=")
    assert "amiralsgatan" in whatsapp.get_attribute("href")

    # Everything came from our own server: no third-party script, font or image.
    assert phone.requests and all(url.startswith(live_server.url) for url in phone.requests)
    assert not [m for m in phone.console if "Content Security Policy" in m]


def test_without_a_clipboard_the_link_is_selected_for_copying_by_hand(live_server, phone):
    create_initiative(live_server.app)
    # An old browser, or a page served without HTTPS: no clipboard API, and the older
    # copy command refused.
    phone.add_init_script(
        "Object.defineProperty(navigator, 'clipboard', {value: undefined});"
        "document.execCommand = () => false;"
    )
    phone.goto(f"{live_server.url}/i/amiralsgatan")
    share = phone.get_by_role("region", name="Dela initiativet")
    share.get_by_role("button", name="Kopiera länken").click()
    expect(share.get_by_role("status")).to_contain_text("kopiera den som du brukar")
    link = share.get_by_label("Länk till initiativet")
    selected = link.evaluate("input => input.value.slice(input.selectionStart, input.selectionEnd)")
    assert selected == f"{live_server.url}/i/amiralsgatan"


def test_the_initiative_page_with_its_share_box_has_no_accessibility_violations(live_server, page):
    from axe_playwright_python.sync_playwright import Axe

    create_initiative(live_server.app)
    page.goto(f"{live_server.url}/i/amiralsgatan")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_on_a_touch_phone_the_share_button_opens_the_phones_share_sheet(browser, live_server):
    create_initiative(live_server.app)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="sv-SE", has_touch=True, is_mobile=True
    )
    page = context.new_page()
    # Stand in for the phone's share sheet (Android's or iOS's), and record what it got.
    page.add_init_script(
        "navigator.share = (data) => { window.sharedWith = data; return Promise.resolve(); };"
    )
    page.goto(f"{live_server.url}/i/amiralsgatan")
    page.get_by_role("button", name="Dela …").tap()
    page.wait_for_function("window.sharedWith !== undefined")
    shared = page.evaluate("window.sharedWith")
    assert shared == {"title": "Tryggare Amiralsgatan", "url": f"{live_server.url}/i/amiralsgatan"}
    context.close()


def test_on_a_desktop_there_is_no_share_sheet_button(live_server, page):
    create_initiative(live_server.app)
    page.add_init_script("navigator.share = () => Promise.resolve();")
    page.goto(f"{live_server.url}/i/amiralsgatan")
    assert page.get_by_role("button", name="Kopiera länken").is_visible()
    assert not page.get_by_role("button", name="Dela …").is_visible()


def test_without_javascript_the_link_is_there_and_no_dead_button(browser, live_server):
    create_initiative(live_server.app)
    context = browser.new_context(java_script_enabled=False, locale="sv-SE")
    page = context.new_page()
    page.goto(f"{live_server.url}/i/amiralsgatan")
    share = page.get_by_role("region", name="Dela initiativet")
    assert share.get_by_label("Länk till initiativet").input_value().endswith("/i/amiralsgatan")
    assert share.get_by_role("link", name="Dela på WhatsApp").is_visible()
    assert not share.get_by_role("button").count()  # hidden: not in the accessibility tree
    context.close()
