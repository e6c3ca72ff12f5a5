"""WCAG 2.1 AA in a real browser: axe-core on every public page in Swedish, Arabic and
Persian, keyboard-only signing, reflow at 320 px and at 200 % zoom, touch targets,
visible focus, and screenshots of the initiative page for people to look at.

The screens are built in ``site.py``: to check a new one, write a builder there and add
one line to ``PAGES``.  The stand tablet's enrolment, start and volunteer screens are
Swedish whatever the browser's language cookie says (each signer picks a language on the
start screen), so in the Arabic and Persian runs those screens are checked as the
Swedish pages they are, and the signer's screens in the visitor's language.
"""

from __future__ import annotations

import email
import email.policy
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.i18n import text_direction
from initiatives.mail import compose
from initiatives.models import OutboxMessage

from .site import (
    AXE,
    PAGES,
    accessibility,
    check_your_email,
    confirm,
    data_request,
    data_request_sent,
    describe,
    home,
    initiative,
    initiative_answered,
    kiosk_sign_form_with_errors,
    not_found,
    postcode_reads_in_order,
    privacy,
    sign_form_with_errors,
    withdraw,
)

pytestmark = pytest.mark.browser

LANGUAGES = ("sv", "ar")
# axe also in Persian, the other right-to-left language (its layout: test_persian_browser).
AXE_LANGUAGES = (*LANGUAGES, "fa")


# --- axe ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", AXE_LANGUAGES)
@pytest.mark.parametrize(("name", "build"), PAGES, ids=[name for name, _ in PAGES])
def test_axe_finds_no_violations(open_site, name, build, lang):
    site = open_site(lang)
    shown = build(site) or lang
    assert site.page.locator("html").get_attribute("lang") == shown
    assert site.page.locator("html").get_attribute("dir") == text_direction(shown)
    results = AXE.run(site.page)
    assert results.response["testEngine"]["name"] == "axe-core"
    violations = results.response["violations"]
    assert not violations, f"{name} in {lang}:\n{describe(violations)}"


# --- keyboard -------------------------------------------------------------------------------


def focused(page: Any) -> dict[str, str]:
    return page.evaluate(
        """() => { const e = document.activeElement;
                   return {id: e.id, tag: e.tagName.toLowerCase(), cls: e.className,
                           text: (e.innerText || '').trim()}; }"""
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_resident_signs_with_the_keyboard_alone(open_site, lang):
    site = open_site(lang)
    slug = site.examples()
    page = site.page
    site.goto(f"/i/{slug}")

    # The first Tab shows the skip link; Enter moves focus to the main content.
    page.keyboard.press("Tab")
    assert "skip-link" in focused(page)["cls"]
    box = page.locator(".skip-link").bounding_box()
    assert box and box["y"] >= 0, "the skip link must be visible when focused"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"

    # On a phone the next stop jumps straight to the form.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('.jump-to-form') !== null")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "name"

    # Tab order through the form; Space ticks the boxes; the honeypot is never reached.
    page.keyboard.type("Amira Hassan")
    order = ["name"]
    for _ in range(6):
        page.keyboard.press("Tab")
        now = focused(page)
        order.append(now["id"] or now["tag"])
        if now["id"] in ("resident", "consent"):
            page.keyboard.press("Space")
    assert order == ["name", "email", "postcode", "resident", "consent", "a", "button"]
    assert page.locator("#resident").is_checked() and page.locator("#consent").is_checked()

    # Enter on the button submits; the missing address lands focus on the error summary.
    page.keyboard.press("Enter")
    page.locator(".error-summary").wait_for()
    page.wait_for_load_state()  # js/site.js (deferred) is what moves the focus
    assert "error-summary" in focused(page)["cls"]
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "email"
    page.keyboard.type("amira.keyboard@example.org")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/thanks$"))
    assert page.locator("h1").is_visible()


def has_focus_indicator(page: Any) -> bool:
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
                   return outline || s.boxShadow !== 'none'; }"""
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_stop_in_the_tab_order_shows_focus(open_site, lang):
    site = open_site(lang)
    sign_form_with_errors(site)
    page = site.page
    page.locator("body").focus()
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        now = focused(page)
        if now["tag"] == "body" or (seen and now == seen[0]):
            break
        assert has_focus_indicator(page), f"no visible focus on {now}"
        seen.append(now)
    assert len(seen) >= 15  # skip link, languages, summary links, form, footer


# --- reflow, zoom and touch targets ---------------------------------------------------------

OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const outside = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.honeypot, .skip-link, .visually-hidden, script')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > width + 1 || r.left < -1) {
      const where = `${Math.round(r.left)}..${Math.round(r.right)}`;
      outside.push(`${el.tagName.toLowerCase()}.${el.className} ${where}`);
    }
  }
  const scroll = document.documentElement.scrollWidth;
  return {scroll: scroll, client: width, outside: outside.slice(0, 8)};
}"""

REFLOW_PAGES = [
    home,
    initiative,
    sign_form_with_errors,
    check_your_email,
    confirm,
    withdraw,
    privacy,
    accessibility,
]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("width", "height", "scale"),
    [(320, 640, 1), (640, 512, 2)],
    ids=["320px", "200pc-zoom"],
)
def test_no_horizontal_scrolling_or_clipped_content(open_site, lang, width, height, scale):
    """320 CSS px (WCAG 1.4.10); a 1280x1024 window at 200 % zoom is 640x512 CSS px."""
    site = open_site(lang, width=width, height=height, scale=scale)
    problems = []
    for build in REFLOW_PAGES:
        build(site)
        found = site.page.evaluate(OVERFLOW_JS)
        if found["scroll"] > found["client"] or found["outside"]:
            problems.append(f"{build.__name__}: {found}")
    assert not problems, "\n".join(problems)


TARGETS_JS = """() => {
  const small = [];
  const blocks = 'p, li, dd, td, h1, h2, h3, label';
  const interactive = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
  for (const el of document.querySelectorAll(interactive)) {
    if (el.closest('.honeypot')) continue;
    const block = el.closest(blocks);
    // A link inside running text is exempt; a link that stands alone is a target.
    if (el.tagName === 'A' && block && block.textContent.trim() !== el.textContent.trim()) continue;
    const card = el.closest('.card');
    const r = (card && el.closest('h3') ? card : el).getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.width < 43.5 || r.height < 43.5) {
      const name = (el.textContent || el.id).trim().slice(0, 30);
      const size = `${Math.round(r.width)}x${Math.round(r.height)}`;
      small.push(`${el.tagName.toLowerCase()} "${name}" ${size}`);
    }
  }
  return small;
}"""


@pytest.mark.parametrize("lang", LANGUAGES)
def test_touch_targets_are_at_least_44_px(open_site, lang):
    site = open_site(lang)
    problems = []
    for build in (
        home,
        initiative,
        sign_form_with_errors,
        confirm,
        accessibility,
        not_found,
        data_request,
        data_request_sent,
    ):
        build(site)
        small = site.page.evaluate(TARGETS_JS)
        if small:
            problems.append(f"{build.__name__}: {small}")
    assert not problems, "\n".join(problems)


ERROR_LINKS_JS = """() => [...document.querySelectorAll('.error-summary li a')].map((a) => {
  const r = a.getBoundingClientRect();
  return [r.top, r.bottom];
})"""


@pytest.mark.parametrize(
    "build", [sign_form_with_errors, kiosk_sign_form_with_errors], ids=["phone", "tablet"]
)
def test_the_error_summary_keeps_its_links_apart(open_site, build):
    """Most messages take two or three lines in Somali: with no space between them the
    list reads as one block of red text, and a tap near a line's edge opens the wrong
    field."""
    site = open_site("so", width=360, height=740)
    build(site)
    boxes = site.page.evaluate(ERROR_LINKS_JS)
    assert len(boxes) == 4  # name, email, resident, consent
    gaps = [round(below[0] - above[1]) for above, below in pairwise(boxes)]
    assert min(gaps) >= 8, f"space between the links: {gaps} px"


# --- right to left, print, screenshots -----------------------------------------------------


def test_arabic_layout_is_mirrored(open_site):
    arabic, swedish = open_site("ar"), open_site("sv")
    for site in (arabic, swedish):
        initiative(site)
    for site, rtl in ((arabic, True), (swedish, False)):
        page = site.page
        main = page.locator("main").bounding_box()
        title = page.locator(".initiative-text h1").bounding_box()
        box = page.locator("#resident").bounding_box()
        label = page.locator("label[for=resident]").bounding_box()
        if rtl:
            assert abs((title["x"] + title["width"]) - (main["x"] + main["width"] - 16)) < 2
            assert box["x"] > label["x"], "the checkbox sits at the right in Arabic"
        else:
            assert abs(title["x"] - (main["x"] + 16)) < 2
            assert box["x"] < label["x"]
    # Numbers keep their order inside Arabic text: the postcode example reads 212 14.
    assert postcode_reads_in_order(arabic.page)


@pytest.mark.parametrize("lang", ["ar", "fa", "bs"])
def test_the_note_on_a_swedish_text_starts_where_the_reader_starts(open_site, lang):
    """Wider than a phone the note is narrower than the page.  The Swedish title and
    summary under it start at the left; the note, in the reader's language, starts at
    the right in Arabic and Persian (at the left it sat beside nothing, its bar in the
    middle of the page)."""
    site = open_site(lang, width=1280, height=800)
    site.examples()
    site.goto("/i/ljus-i-rosengardsparken")  # Swedish and English texts only
    page = site.page
    text = page.locator(".initiative-text").bounding_box()
    note = page.locator(".initiative-text .notice").bounding_box()
    title = page.locator(".initiative-text h1").bounding_box()
    assert note["width"] < text["width"] - 100, "narrower than the text: its side shows"
    assert abs(title["x"] - text["x"]) < 2, "the Swedish title starts at the left"
    if text_direction(lang) == "rtl":
        assert abs((note["x"] + note["width"]) - (text["x"] + text["width"])) < 2
    else:
        assert abs(note["x"] - text["x"]) < 2


def test_the_confirmation_page_in_arabic_names_the_signer_and_keeps_the_postcode_in_order(
    open_site,
):
    """The name being confirmed is shown, and its postcode reads 212 14 in Arabic."""
    site = open_site("ar")
    confirm(site)
    details = site.page.locator("dl.facts")
    assert "Amira Hassan" in details.inner_text()
    assert postcode_reads_in_order(site.page, "dl.facts bdi[dir=ltr]")


def test_print_shows_the_proposal_without_navigation_or_form(open_site, artifacts):
    site = open_site("sv")
    initiative(site)
    page = site.page
    page.emulate_media(media="print")
    assert page.locator(".initiative-text h1").is_visible()
    assert page.locator(".prose").is_visible()
    for hidden in (".site-header", ".site-footer", "form#sign", ".jump-to-form"):
        assert not page.locator(hidden).is_visible(), hidden
    assert page.locator(".print-only").is_visible()
    assert "/i/amiralsgatan" in page.locator(".print-only").inner_text()
    page.pdf(path=str(artifacts / "initiative-print-sv.pdf"), format="A4")


@pytest.mark.parametrize("lang", ["sv", "ar", "so"])
def test_screenshots_of_the_initiative_page_at_phone_size(open_site, artifacts, lang):
    """Written to tests/artifacts/ for people to look at (390x844, a common phone)."""
    site = open_site(lang, width=390, height=844)
    initiative(site)
    path: Path = artifacts / f"initiative-{lang}.png"
    site.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000
    assert site.page.locator(".initiative-text .notice").count() == 0  # text in every language
    sign_form_with_errors(site)
    site.page.screenshot(path=str(artifacts / f"sign-errors-{lang}.png"), full_page=True)
    # The second example has Swedish and English texts only: Swedish, with a note.
    site.goto("/i/ljus-i-rosengardsparken")
    note = site.page.locator(".initiative-text .notice")
    assert note.count() == (0 if lang == "sv" else 1)
    site.page.screenshot(path=str(artifacts / f"initiative-fallback-{lang}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["sv", "ar"])
def test_screenshot_of_the_answered_page_at_phone_size(open_site, artifacts, lang):
    """The committee's answer where residents look for it (tests/artifacts/)."""
    site = open_site(lang, width=390, height=844)
    initiative_answered(site)
    answer = site.page.locator("section.answer")
    assert answer.locator(".prose").get_attribute("lang") == (None if lang == "sv" else "sv")
    assert answer.get_by_role("link").get_attribute("href") == "/i/besvarad/answer.pdf"
    site.page.screenshot(path=str(artifacts / f"initiative-answered-{lang}.png"), full_page=True)


@pytest.mark.parametrize("locale", ["ar", "fa"])
def test_screenshot_of_a_right_to_left_confirmation_mail(open_site, artifacts, locale):
    site = open_site(locale)
    site.signature(locale=locale)
    with site.app.app_context():
        message = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.locale == locale).limit(1)
        ).one()
        composed = compose(message)
    # Read it back as a mail client would (compose builds with the fast email.mime classes).
    mail = email.message_from_bytes(composed.as_bytes(), policy=email.policy.default)
    html = mail.get_body(preferencelist=("html",)).get_content()
    site.page.set_content(html)
    assert site.page.locator("html").get_attribute("lang") == locale
    assert site.page.locator("div[dir=rtl]").count() == 1
    site.page.screenshot(path=str(artifacts / f"mail-confirm-{locale}.png"), full_page=True)
