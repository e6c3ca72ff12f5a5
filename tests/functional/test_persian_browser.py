"""Persian in a real browser (axe on every screen in Persian, and the confirmation mail,
are in test_accessibility.py): the layout mirrored like Arabic, Persian text shaped, and
screenshots of the initiative page and the sign form with errors in tests/artifacts/ for
people to look at.

The example initiatives have no Persian text, so the example shows the Swedish proposal
with the translated note; an initiative with a Persian text shows Persian throughout.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.models import Initiative

from ..conftest import create_initiative
from .site import Site, initiative, kiosk_start, postcode_reads_in_order, sign_form_with_errors

pytestmark = pytest.mark.browser

PERSIAN_TEXT = {
    "title": "خیابان آمیرالس\u200cگاتان امن\u200cتر",
    "summary": "گذرگاه\u200cهای امن برای عابران پیاده و یک مسیر دوچرخه\u200cی جدا.",
    "body": "به کمیته\u200cی فنی پیشنهاد می\u200cکنیم کنار مدرسه گذرگاه\u200cهای امن بسازد.",
}


def persian_initiative(site: Site) -> str:
    """An initiative with Swedish and Persian texts (the examples have no Persian)."""
    with site.app.app_context():
        exists = db.session.scalar(sa.select(Initiative.id).where(Initiative.slug == "farsi"))
    if exists is None:
        create_initiative(
            site.app,
            "farsi",
            texts={
                "sv": {"title": "Tryggare Amiralsgatan", "summary": "s", "body": "b"},
                "fa": PERSIAN_TEXT,
            },
        )
    return "farsi"


def test_the_persian_initiative_page_is_mirrored_and_shaped(open_site, artifacts):
    """Written to tests/artifacts/ for people to look at (390x844, a common phone)."""
    site = open_site("fa", width=390, height=844)
    site.goto(f"/i/{persian_initiative(site)}")
    page = site.page
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator(".initiative-text .notice").count() == 0
    main = page.locator("main").bounding_box()
    title = page.locator(".initiative-text h1")
    assert title.inner_text() == PERSIAN_TEXT["title"]
    box = title.bounding_box()
    assert abs((box["x"] + box["width"]) - (main["x"] + main["width"] - 16)) < 2
    checkbox = page.locator("#resident").bounding_box()
    label = page.locator("label[for=resident]").bounding_box()
    assert checkbox["x"] > label["x"], "the checkbox sits at the right in Persian"
    assert postcode_reads_in_order(page)
    # Shaped: joined Persian letters are narrower than the same letters set apart.
    widths = page.evaluate(
        """() => {
          const span = (text) => {
            const s = document.createElement('span');
            s.textContent = text;
            s.style.position = 'absolute';
            s.style.whiteSpace = 'nowrap';
            document.body.appendChild(s);
            const w = s.getBoundingClientRect().width;
            s.remove();
            return w;
          };
          return [span('امضا کنید'), span('ا م ض ا ک ن ی د')];
        }"""
    )
    assert widths[0] < widths[1]
    path: Path = artifacts / "initiative-fa.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000


def test_screenshots_of_the_example_and_its_errors_in_persian(open_site, artifacts):
    site = open_site("fa", width=390, height=844)
    initiative(site)
    # The example has no Persian text: the Swedish proposal, with the note in Persian.
    assert site.page.locator(".initiative-text .notice").count() == 1
    assert site.page.locator(".initiative-text .notice").get_attribute("dir") == "rtl"
    site.page.screenshot(path=str(artifacts / "initiative-fallback-fa.png"), full_page=True)
    sign_form_with_errors(site)
    assert site.page.locator("html").get_attribute("dir") == "rtl"
    summary = site.page.locator(".error-summary")
    assert summary.is_visible()
    main = site.page.locator("main").bounding_box()
    heading = summary.locator("h2").first.bounding_box()
    # The summary's heading starts at the right, like the rest of the page.
    assert heading["x"] + heading["width"] > main["x"] + main["width"] / 2
    assert postcode_reads_in_order(site.page)
    path: Path = artifacts / "sign-errors-fa.png"
    site.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000


def test_the_stand_tablet_offers_persian_in_its_own_script(open_site, artifacts):
    site = open_site("sv")
    kiosk_start(site)
    link = site.page.get_by_role("link", name="فارسی", exact=True)
    assert link.get_attribute("lang") == "fa"
    assert link.get_attribute("dir") == "rtl"
    site.page.screenshot(path=str(artifacts / "kiosk-start-languages.png"), full_page=True)
    link.click()
    site.page.wait_for_url(re.compile(r"/kiosk/sign/fa$"))
    assert site.page.locator("html").get_attribute("lang") == "fa"
    assert site.page.locator("html").get_attribute("dir") == "rtl"
    site.page.screenshot(path=str(artifacts / "kiosk-sign-fa.png"), full_page=True)
