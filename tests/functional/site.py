"""The site a browser test drives: the app on a live server, and one builder per screen.

A builder takes a ``Site`` and leaves its page showing the screen.  It returns the
language the screen is shown in when that is not the visitor's: the stand tablet's
enrolment, start and volunteer screens are Swedish whatever the browser's language cookie
says (each signer picks a language on the start screen).  ``PAGES`` lists every screen
the accessibility tests check; a new screen is one more line there.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe

from initiatives import kiosks, signature_states, signatures
from initiatives.demo import load_examples
from initiatives.extensions import db
from initiatives.i18n import native_name
from initiatives.models import Initiative, InitiativeState
from initiatives.tokens import Purpose, make_token

from ..admin_helpers import PASSWORD, create_admin
from ..conftest import create_initiative
from .conftest import LiveServer
from .test_kiosk_browser import (
    PIN,
    TABLET,
    resident_signs_at_stand,
    tablet_is_ready,
    volunteer_enrols_tablet,
)

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

    def answered_initiative(self) -> str:
        """An initiative Tekniska nämnden has answered, with its decision and the PDF."""
        from datetime import timedelta

        from initiatives import clock, lifecycle

        with self.app.app_context():
            exists = db.session.scalar(
                sa.select(Initiative.id).where(Initiative.slug == "besvarad")
            )
        if exists is None:
            create_initiative(
                self.app,
                "besvarad",
                state=InitiativeState.SUBMITTED,
                submitted_at=clock.utcnow() - timedelta(days=60),
            )
            with self.app.app_context():
                answered = db.session.scalars(
                    sa.select(Initiative).where(Initiative.slug == "besvarad")
                ).one()
                lifecycle.answer(
                    answered,
                    "a11y",
                    answered_on=lifecycle.local_date(clock.utcnow()) - timedelta(days=3),
                    text="Tekniska nämnden bifaller initiativet.\n\n"
                    "Två säkra övergångar byggs på Amiralsgatan under 2027.",
                    document=b"%PDF-1.4\n%%EOF\n",
                    filename="Protokollsutdrag Tekniska nämnden.pdf",
                )
                db.session.commit()
        return "besvarad"

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
                postcode="212 14",
                locale=locale,
            )
            if confirmed:
                signature_states.confirm(result.signature)
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


def organiser_logs_in(
    browser: Any, server: LiveServer, email: str, role: str = "organiser"
) -> tuple[Any, list[str]]:
    """A new organiser account (or an ``admin``) logs in on a desktop browser.  Returns
    the page, on the admin's start page, and the list the browser's Content Security
    Policy complaints go to (a test ends by asserting it empty; ``page.context.close()``
    closes the browser)."""
    create_admin(server.app, email, role=role)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{server.url}/admin/")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    return page, violations


# --- page builders: one per screen ---------------------------------------------------------


def home(site: Site) -> None:
    site.examples()
    site.goto("/")


def initiative(site: Site) -> None:
    site.goto(f"/i/{site.examples()}")


def initiative_closed(site: Site) -> None:
    site.goto(f"/i/{site.closed_initiative()}")


def initiative_answered(site: Site) -> None:
    site.goto(f"/i/{site.answered_initiative()}")


def sign_form_with_errors(site: Site) -> None:
    site.goto(f"/i/{site.examples()}")
    site.page.locator("#email").fill("not an address")
    site.page.locator("form#sign button[type=submit]").click()
    site.page.locator(".error-summary").wait_for()
    # The summary can be in the DOM before the stylesheets have loaded; sizes and
    # colours are measured next, so wait for the whole page (flaky under load otherwise).
    site.page.wait_for_load_state()


def resident_types_a_likely_typo(site: Site, email: str = "amira@gmial.com") -> None:
    """The sign form filled in with an address one letter off a common provider's."""
    page = site.page
    page.locator("#name").fill("Amira Hassan")
    page.locator("#email").fill(email)
    page.locator("#resident").check()
    page.locator("#consent").check()


def sign_form_with_suggestion(site: Site) -> None:
    """The form back with "Menade du amira@gmail.com?" at the address."""
    site.goto(f"/i/{site.examples()}")
    resident_types_a_likely_typo(site)
    site.page.locator("form#sign > button[type=submit]").click()
    site.page.locator(".suggestion").wait_for()
    site.page.wait_for_load_state()  # its stylesheets too, before sizes and axe


def check_your_email(site: Site) -> None:
    site.goto(f"/i/{site.examples()}/thanks")


def confirm(site: Site) -> None:
    site.goto(site.signature()["confirm"])


def confirm_session_lost(site: Site) -> None:
    """The button pressed after the page lost its session (left open overnight): the
    page comes back with a message and a new button."""
    site.goto(site.signature()["confirm"])
    site.page.context.clear_cookies(name=site.app.config["SESSION_COOKIE_NAME"])
    site.press_the_button()
    site.page.locator("#error-summary-title").wait_for()


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


def data_request(site: Site) -> None:
    site.goto("/privacy/request")


def data_request_with_errors(site: Site) -> None:
    data_request(site)
    site.page.locator("main form button[type=submit]").click()
    site.page.locator(".error-summary").wait_for()
    site.page.wait_for_load_state()  # its stylesheets too, before axe looks


def data_request_sent(site: Site) -> None:
    site.goto("/privacy/request/sent")


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


def kiosk_sign_form_with_suggestion(site: Site) -> None:
    """The tablet's script asks "Menade du amira@gmail.com?" before it sends."""
    site.kiosk_sign_form()
    resident_types_a_likely_typo(site)
    site.page.locator("button.kiosk-submit").click()
    site.page.locator(".suggestion").wait_for()


def kiosk_thanks(site: Site) -> None:
    site.enrolled_tablet()
    email = f"amira-{uuid.uuid4().hex[:8]}@example.org"
    resident_signs_at_stand(site.page, "Amira Hassan", email, native_name(site.lang))
    site.page.wait_for_url(re.compile(rf"/kiosk/thanks/{site.lang}$"))


def kiosk_volunteer_pin(site: Site) -> str:
    site.enrolled_tablet()
    site.page.locator(".kiosk-volunteer").click()
    site.page.locator("#pin").wait_for()
    # The field is there before the rest of the page and its stylesheets (axe is next).
    site.page.wait_for_load_state()
    return "sv"


def kiosk_volunteer_panel(site: Site) -> str:
    kiosk_volunteer_pin(site)
    site.page.locator("#pin").fill(PIN)
    site.page.locator("main form button[type=submit]").click()
    site.page.locator("[data-today-received]").wait_for()
    site.page.wait_for_load_state()
    return "sv"


PAGES: list[tuple[str, Callable[[Site], None]]] = [
    ("home", home),
    ("initiative", initiative),
    ("initiative-closed", initiative_closed),
    ("initiative-answered", initiative_answered),
    ("sign-form-with-errors", sign_form_with_errors),
    ("sign-form-with-suggestion", sign_form_with_suggestion),
    ("check-your-email", check_your_email),
    ("confirm", confirm),
    ("confirm-session-lost", confirm_session_lost),
    ("confirmed", confirmed),
    ("withdraw", withdraw),
    ("withdrawn", withdrawn),
    ("broken-link", broken_link),
    ("not-found", not_found),
    ("privacy", privacy),
    ("data-request", data_request),
    ("data-request-with-errors", data_request_with_errors),
    ("data-request-sent", data_request_sent),
    ("accessibility", accessibility),
    ("kiosk-enrolment", kiosk_enrolment),
    ("kiosk-start", kiosk_start),
    ("kiosk-sign-form", kiosk_sign_form),
    ("kiosk-sign-form-with-errors", kiosk_sign_form_with_errors),
    ("kiosk-sign-form-with-suggestion", kiosk_sign_form_with_suggestion),
    ("kiosk-thanks", kiosk_thanks),
    ("kiosk-volunteer-pin", kiosk_volunteer_pin),
    ("kiosk-volunteer-panel", kiosk_volunteer_panel),
]


# Where each of the strings starts, left to right on the screen, in the first text node
# of the element (ranges measure the laid-out text, whatever the direction).
TEXT_X = """(element, words) => {
  const n = element.firstChild;
  return words.map((s) => {
    const r = document.createRange();
    const i = n.data.indexOf(s);
    r.setStart(n, i);
    r.setEnd(n, i + s.length);
    return r.getBoundingClientRect().x;
  });
}"""


def reads_in_order(locator: Any, *words: str) -> bool:
    """Whether ``words`` are laid out left to right in that order inside ``locator``'s
    text, as an address or a postcode must be inside right-to-left text."""
    positions = locator.evaluate(TEXT_X, list(words))
    return positions == sorted(positions) and len(set(positions)) == len(positions)


def postcode_reads_in_order(page: Any, selector: str = "#postcode-hint") -> bool:
    """Inside right-to-left text the postcode (the example by default) still reads
    212 14, not 14 212."""
    return reads_in_order(page.locator(selector), "212", "14")


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [node["target"] for node in violation["nodes"]][:5]
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} {targets}")
    return "\n".join(lines)
