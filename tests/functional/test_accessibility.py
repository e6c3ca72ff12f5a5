"""WCAG 2.1 AA in a real browser: axe-core on every public page in Swedish and Arabic,
keyboard-only signing, reflow at 320 px and at 200 % zoom, touch targets, visible focus,
and screenshots of the initiative page for people to look at.

To check a new page, write a builder (a function that takes a ``Site`` and leaves its
page showing the screen) and add one line to ``PAGES``.  A builder returns the language
the screen is shown in when that is not the visitor's: the stand tablet's enrolment,
start and volunteer screens are Swedish whatever the browser's language cookie says
(each signer picks a language on the start screen), so in the Arabic run those screens
are checked as the Swedish pages they are, and the signer's screens in Arabic.
"""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe

from initiatives import create_app, kiosks, signatures
from initiatives.demo import load_examples
from initiatives.extensions import db
from initiatives.i18n import native_name
from initiatives.mail import compose
from initiatives.models import Initiative, InitiativeState, OutboxMessage
from initiatives.tokens import Purpose, make_token

from ..conftest import _test_config, create_initiative
from .conftest import LiveServer
from .test_kiosk_browser import (
    PIN,
    TABLET,
    resident_signs_at_stand,
    tablet_is_ready,
    volunteer_enrols_tablet,
)

pytestmark = pytest.mark.browser

LANGUAGES = ("sv", "ar")
AXE = Axe()


@dataclass
class Site:
    """The app on a live server, and the browser page a test drives."""

    server: LiveServer
    page: Any
    lang: str = "sv"  # the visitor's language (the site's language cookie)

    @property
    def app(self) -> Any:
        return self.server.app

    def goto(self, path: str) -> None:
        response = self.page.goto(self.server.url + path)
        assert response is not None

    def examples(self) -> str:
        """The demo initiatives (texts in Swedish, English and Arabic); returns a slug."""
        with self.app.app_context():
            load_examples()
            db.session.commit()
        return "amiralsgatan"

    def closed_initiative(self) -> str:
        with self.app.app_context():
            exists = db.session.scalar(sa.select(Initiative.id).where(Initiative.slug == "stangd"))
        if exists is None:
            create_initiative(self.app, "stangd", state=InitiativeState.CLOSED)
        return "stangd"

    def signature(self, *, confirmed: bool = False, locale: str = "ar") -> dict[str, str]:
        """A new signature on the example initiative; its confirm and withdraw links."""
        slug = self.examples()
        with self.app.app_context():
            initiative = db.session.scalars(
                sa.select(Initiative).where(Initiative.slug == slug)
            ).one()
            result = signatures.sign(
                initiative,
                name="Amira Hassan",
                email=f"amira-{uuid.uuid4().hex[:8]}@example.org",
                locale=locale,
            )
            if confirmed:
                signatures.confirm(result.signature)
            db.session.commit()
            public_id = result.signature.public_id
            return {
                "confirm": f"/confirm/{make_token(Purpose.CONFIRM, public_id)}",
                "withdraw": f"/withdraw/{make_token(Purpose.WITHDRAW, public_id)}",
            }

    def enrolled_tablet(self) -> None:
        """A new stand tablet for the example initiative, enrolled, on its start screen."""
        slug = self.examples()
        with self.app.app_context():
            initiative = db.session.scalars(
                sa.select(Initiative).where(Initiative.slug == slug)
            ).one()
            _kiosk, code = kiosks.create(
                f"Stand {uuid.uuid4().hex[:8]}", [initiative], actor="a11y"
            )
            db.session.commit()
        self.page.set_viewport_size(TABLET)
        volunteer_enrols_tablet(self.page, self.server, code)
        # Also waits for the service worker to have cached the shell: leaving the page
        # while it still downloads would cut its requests off half-way.
        tablet_is_ready(self.page)

    def kiosk_sign_form(self) -> None:
        """The tablet's sign form in the visitor's language, chosen on the start screen."""
        self.enrolled_tablet()
        self.page.get_by_role("link", name=native_name(self.lang), exact=True).click()
        self.page.wait_for_url(re.compile(rf"/kiosk/sign/{self.lang}$"))

    def press_the_button(self) -> None:
        self.page.locator("main form button[type=submit]").click()
        self.page.wait_for_load_state()


# --- page builders: one per screen ---------------------------------------------------------


def home(site: Site) -> None:
    site.examples()
    site.goto("/")


def initiative(site: Site) -> None:
    site.goto(f"/i/{site.examples()}")


def initiative_closed(site: Site) -> None:
    site.goto(f"/i/{site.closed_initiative()}")


def sign_form_with_errors(site: Site) -> None:
    site.goto(f"/i/{site.examples()}")
    site.page.locator("#email").fill("not an address")
    site.page.locator("form#sign button[type=submit]").click()
    site.page.locator(".error-summary").wait_for()
    # The summary can be in the DOM before the stylesheets have loaded; sizes and
    # colours are measured next, so wait for the whole page (flaky under load otherwise).
    site.page.wait_for_load_state()


def check_your_email(site: Site) -> None:
    site.goto(f"/i/{site.examples()}/thanks")


def confirm(site: Site) -> None:
    site.goto(site.signature()["confirm"])


def confirmed(site: Site) -> None:
    site.goto(site.signature()["confirm"])
    site.press_the_button()
    site.page.locator(".panel-success").wait_for()


def withdraw(site: Site) -> None:
    site.goto(site.signature(confirmed=True)["withdraw"])


def withdrawn(site: Site) -> None:
    site.goto(site.signature(confirmed=True)["withdraw"])
    site.press_the_button()
    site.page.locator(".panel h1").wait_for()


def broken_link(site: Site) -> None:
    site.goto("/confirm/not-a-real-token")


def not_found(site: Site) -> None:
    site.goto("/no-such-page")


def privacy(site: Site) -> None:
    site.goto("/privacy")


def accessibility(site: Site) -> None:
    site.goto("/accessibility")


# The stand tablet (see the module docstring for the languages).


def kiosk_enrolment(site: Site) -> str:
    site.page.set_viewport_size(TABLET)
    site.goto("/kiosk")
    return "sv"


def kiosk_start(site: Site) -> str:
    site.enrolled_tablet()
    return "sv"


def kiosk_sign_form(site: Site) -> None:
    site.kiosk_sign_form()


def kiosk_sign_form_with_errors(site: Site) -> None:
    site.kiosk_sign_form()
    site.page.locator("button.kiosk-submit").click()
    site.page.locator(".error-summary").wait_for()


def kiosk_thanks(site: Site) -> None:
    site.enrolled_tablet()
    email = f"amira-{uuid.uuid4().hex[:8]}@example.org"
    resident_signs_at_stand(site.page, "Amira Hassan", email, native_name(site.lang))
    site.page.wait_for_url(re.compile(rf"/kiosk/thanks/{site.lang}$"))


def kiosk_volunteer_pin(site: Site) -> str:
    site.enrolled_tablet()
    site.page.locator(".kiosk-volunteer").click()
    site.page.locator("#pin").wait_for()
    return "sv"


def kiosk_volunteer_panel(site: Site) -> str:
    kiosk_volunteer_pin(site)
    site.page.locator("#pin").fill(PIN)
    site.page.locator("main form button[type=submit]").click()
    site.page.locator("[data-today-received]").wait_for()
    return "sv"


PAGES: list[tuple[str, Callable[[Site], None]]] = [
    ("home", home),
    ("initiative", initiative),
    ("initiative-closed", initiative_closed),
    ("sign-form-with-errors", sign_form_with_errors),
    ("check-your-email", check_your_email),
    ("confirm", confirm),
    ("confirmed", confirmed),
    ("withdraw", withdraw),
    ("withdrawn", withdrawn),
    ("broken-link", broken_link),
    ("not-found", not_found),
    ("privacy", privacy),
    ("accessibility", accessibility),
    ("kiosk-enrolment", kiosk_enrolment),
    ("kiosk-start", kiosk_start),
    ("kiosk-sign-form", kiosk_sign_form),
    ("kiosk-sign-form-with-errors", kiosk_sign_form_with_errors),
    ("kiosk-thanks", kiosk_thanks),
    ("kiosk-volunteer-pin", kiosk_volunteer_pin),
    ("kiosk-volunteer-panel", kiosk_volunteer_panel),
]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live app for this module: builders add what they need, so tests stay fast."""
    instance = tmp_path_factory.mktemp("a11y")
    # The kiosk's thank-you screen stays up while axe looks at it.
    config = _test_config(
        f"sqlite:///{instance / 'site.sqlite3'}", instance / "inst", KIOSK_THANKS_SECONDS=120
    )
    app = create_app(config)
    with app.app_context():
        db.create_all()
    server = LiveServer(app)
    app.config["BASE_URL"] = server.url
    server.start()
    yield server
    server.stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def open_site(browser: Any, site_server: LiveServer) -> Iterator[Callable[..., Site]]:
    """A fresh browser context in a language, at a viewport size."""
    contexts: list[Any] = []

    def factory(lang: str = "sv", width: int = 390, height: int = 844, scale: float = 1) -> Site:
        context = browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=scale
        )
        context.add_cookies([{"name": "lang", "value": lang, "url": site_server.url}])
        contexts.append(context)
        return Site(site_server, context.new_page(), lang)

    yield factory
    for context in contexts:
        context.close()


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [node["target"] for node in violation["nodes"]][:5]
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} {targets}")
    return "\n".join(lines)


# --- axe ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "build"), PAGES, ids=[name for name, _ in PAGES])
def test_axe_finds_no_violations(open_site, name, build, lang):
    site = open_site(lang)
    shown = build(site) or lang
    assert site.page.locator("html").get_attribute("lang") == shown
    assert site.page.locator("html").get_attribute("dir") == ("rtl" if shown == "ar" else "ltr")
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
    for build in (home, initiative, sign_form_with_errors, confirm, accessibility, not_found):
        build(site)
        small = site.page.evaluate(TARGETS_JS)
        if small:
            problems.append(f"{build.__name__}: {small}")
    assert not problems, "\n".join(problems)


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
    positions = arabic.page.evaluate(
        """() => {
          const n = document.querySelector('#postcode-hint').firstChild;
          const at = (s) => {
            const r = document.createRange();
            const i = n.data.indexOf(s);
            r.setStart(n, i);
            r.setEnd(n, i + s.length);
            return r.getBoundingClientRect().x;
          };
          return [at('212'), at('14')];
        }"""
    )
    assert positions[0] < positions[1]


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


def test_screenshot_of_an_arabic_confirmation_mail(open_site, artifacts):
    site = open_site("ar")
    site.signature(locale="ar")
    with site.app.app_context():
        message = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.locale == "ar").limit(1)
        ).one()
        composed = compose(message)
    # Read it back as a mail client would (compose builds with the fast email.mime classes).
    mail = email.message_from_bytes(composed.as_bytes(), policy=email.policy.default)
    html = mail.get_body(preferencelist=("html",)).get_content()
    site.page.set_content(html)
    assert site.page.locator("div[dir=rtl]").count() == 1
    site.page.screenshot(path=str(artifacts / "mail-confirm-ar.png"), full_page=True)
