"""The public pages on a small phone (360x640 CSS px, a common Android; 320 px for the
narrowest): most residents open the initiative by scanning the poster's QR code, and the
first screen should show the initiative, not the site's header."""

from __future__ import annotations

import pytest

from initiatives.i18n import native_name, text_direction

from .site import AXE, describe, initiative

pytestmark = pytest.mark.browser

LANGUAGES = ("sv", "en", "ar", "so", "bs", "fa")
PHONE = {"width": 360, "height": 640}
# The header holds the brand link and the six languages, each a 44 px touch target: two
# rows of 44 px (88 px) are the least it can be.  16 % of the screen (102 px) leaves room
# for a little padding; before, the brand and two rows of languages took 155-164 px
# (24-26 %).
HEADER_SHARE = 0.16

LANGUAGE_LINKS_JS = """() => [...document.querySelectorAll('.site-header .languages a')].map(
  (a) => {
    const r = a.getBoundingClientRect();
    const s = getComputedStyle(a);
    return {lang: a.lang, dir: a.dir, text: a.textContent.trim(),
            x: r.x, y: r.y, width: r.width, height: r.height,
            visible: s.visibility === 'visible' && s.display !== 'none'};
  })"""


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_initiative_page_on_a_small_phone_starts_with_the_initiative(open_site, lang):
    site = open_site(lang, **PHONE)
    initiative(site)
    page = site.page
    page.wait_for_load_state()  # sizes are measured: the stylesheet must have applied

    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= HEADER_SHARE * PHONE["height"], (
        f"the header takes {header['height']:.0f} of {PHONE['height']} px"
    )

    # The brand link is still there, and every language is one tap away: a visible link
    # of at least 44x44 px (WCAG 2.2 asks 24), inside the screen, named in its own
    # script and direction.
    assert page.locator(".site-header a.brand").is_visible()
    links = page.evaluate(LANGUAGE_LINKS_JS)
    assert [link["lang"] for link in links] == list(LANGUAGES)
    for link in links:
        assert link["visible"], link
        assert link["text"] == native_name(link["lang"]), link
        assert link["dir"] == text_direction(link["lang"]), link
        assert link["width"] >= 43.5 and link["height"] >= 43.5, link
        assert link["x"] >= 0 and link["x"] + link["width"] <= PHONE["width"], link
        assert link["y"] + link["height"] <= header["y"] + header["height"], link

    # The initiative's title is on the first screen, whole.
    title = page.locator(".initiative-text h1").bounding_box()
    assert title["y"] + title["height"] <= PHONE["height"], title

    violations = AXE.run(page).response["violations"]
    assert not violations, f"initiative at 360 px in {lang}:\n{describe(violations)}"


@pytest.mark.parametrize("lang", ["sv", "fa"])
def test_on_the_narrowest_phone_the_languages_take_two_rows_of_three(open_site, lang):
    """At 320x568 the six names do not fit one row: they take two rows of three, each
    still a whole touch target, rather than leaving one name on a row of its own."""
    site = open_site(lang, width=320, height=568)
    initiative(site)
    page = site.page
    page.wait_for_load_state()
    header = page.locator(".site-header").bounding_box()
    # The brand and two rows of languages (3 x 44 px); before, 155-164 px.
    assert header["height"] <= 140, header
    links = page.evaluate(LANGUAGE_LINKS_JS)
    rows: dict[int, int] = {}
    for link in links:
        assert link["visible"] and link["width"] >= 43.5 and link["height"] >= 43.5, link
        assert link["x"] >= 0 and link["x"] + link["width"] <= 320, link
        rows[round(link["y"])] = rows.get(round(link["y"]), 0) + 1
    assert sorted(rows.values()) == [3, 3], rows


@pytest.mark.parametrize("lang", ["sv", "ar"])
def test_the_header_on_a_wide_screen_stays_one_row(open_site, lang):
    """Wider than a phone the brand and the languages share one row, as before."""
    site = open_site(lang, width=1280, height=800)
    initiative(site)
    page = site.page
    page.wait_for_load_state()
    brand = page.locator(".site-header a.brand").bounding_box()
    links = page.evaluate(LANGUAGE_LINKS_JS)
    assert {round(link["y"]) for link in links} == {round(brand["y"])}
    assert all(link["height"] >= 43.5 and link["width"] >= 43.5 for link in links)
    # The brand at the start of the reading direction, the languages at its end.
    if text_direction(lang) == "rtl":
        assert brand["x"] > max(link["x"] for link in links)
    else:
        assert brand["x"] < min(link["x"] for link in links)
