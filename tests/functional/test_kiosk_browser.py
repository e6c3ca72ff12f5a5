"""The stand tablet in a real browser: enrolment, the signer-after-signer loop, privacy
between signers, the idle reset, and signing while the network is down.

Persona: Yusuf volunteers at the stand in Rosengård centrum with a tablet; residents
sign one after another; the mobile connection drops now and then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from initiatives import catalogs, clock, kiosks
from initiatives.extensions import db
from initiatives.kiosk_forms import SubmissionForm
from initiatives.kiosks import Kiosk
from initiatives.models import Channel, Initiative, InitiativeState, OutboxMessage, Signature

from ..conftest import create_initiative
from ..test_email_typos import NOT_TYPOS, TYPOS
from ..test_signing import ADDRESS_NAMES, NO_ADDRESS, REAL_NAMES
from .conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer

TABLET = {"width": 1280, "height": 800}
PIN = "2468"
FAST = {
    "KIOSK_THANKS_SECONDS": 1,
    "KIOSK_FLUSH_SECONDS": 1,
    "KIOSK_IDLE_SECONDS": 60,
    "KIOSK_IDLE_WARNING_SECONDS": 15,
}
AMIRALSGATAN_SV_AR = {
    "sv": {
        "title": "Tryggare Amiralsgatan",
        "summary": "Säkra övergångar, en egen cykelbana och fler träd längs Amiralsgatan.",
        "body": "Vi föreslår att Tekniska nämnden bygger säkra övergångar.",
    },
    "ar": {
        "title": "شارع أميرالسغاتان أكثر أمانًا",
        "summary": "معابر آمنة ومسار خاص للدراجات ومزيد من الأشجار على طول شارع أميرالسغاتان.",
        "body": "نقترح أن تبني اللجنة الفنية معابر آمنة.",
    },
}
RESIDENTS = [
    ("Amira Hassan", "amira@example.org", "Svenska"),
    ("Ahmed Yusuf Farah", "ahmed.farah@example.org", "العربية"),
    ("Lejla Hodžić", "lejla.h@example.org", "English"),
]


# --- fixtures and navigators ---------------------------------------------------------------


@pytest.fixture
def stand(live_app: Callable[..., Any]) -> Iterator[Callable[..., LiveServer]]:
    """Start the app on loopback with kiosk timings shortened for tests."""
    servers: list[LiveServer] = []

    def start(texts: dict[str, dict[str, str]] | None = None, **config: Any) -> LiveServer:
        app = live_app(**{**FAST, **config})
        server = LiveServer(app)
        server.start()
        servers.append(server)
        create_initiative(app, texts=texts)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def tablet(browser: Any) -> Iterator[Any]:
    """A fresh browser context the size of a landscape tablet."""
    context = browser.new_context(viewport=TABLET, locale="sv-SE")
    yield context
    context.close()


def organiser_creates_kiosk(server: LiveServer, *slugs: str, name: str = "Stand 1") -> str:
    args = ["kiosk", "create", "--name", name, "--no-qr"]
    for slug in slugs or ("amiralsgatan",):
        args += ["--initiative", slug]
    result = server.app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return re.search(r"Enrolment code: (\S+)", result.output).group(1)


def volunteer_enrols_tablet(page: Any, server: LiveServer, code: str, pin: str = PIN) -> None:
    page.goto(f"{server.url}/kiosk")
    page.get_by_label("Kod", exact=True).fill(code)
    page.get_by_label("Välj en PIN-kod").fill(pin)
    page.get_by_label("Skriv PIN-koden igen").fill(pin)
    page.get_by_role("button", name="Koppla surfplattan").click()


def tablet_is_ready(page: Any) -> None:
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def resident_fills_in(page: Any, name: str, email: str, language: str = "Svenska") -> None:
    page.get_by_role("link", name=language, exact=True).click()
    page.wait_for_url(re.compile(r"/kiosk/sign/"))
    page.locator("#name").fill(name)
    page.locator("#email").fill(email)
    page.locator("#postcode").fill("213 64")
    page.locator("#resident").check()
    page.locator("#consent").check()


def resident_signs_at_stand(page: Any, name: str, email: str, language: str = "Svenska") -> None:
    resident_fills_in(page, name, email, language)
    page.locator("button.kiosk-submit").click()


def volunteer_unlocks(page: Any, pin: str = PIN) -> None:
    page.get_by_role("link", name="Volontär").click()
    page.get_by_label("PIN-kod").fill(pin)
    page.get_by_role("button", name="Fortsätt").click()


def everything_on_screen(page: Any) -> str:
    """The DOM as HTML plus every form control's live value (not only its attribute)."""
    values = page.evaluate(
        "() => Array.from(document.querySelectorAll('input, textarea, select'))"
        ".map(e => e.value).join('\\n')"
    )
    return page.content() + "\n" + values


def queue_drains(page: Any, seconds: float = 15) -> None:
    """Wait until the tablet's offline queue is empty (the server acknowledged all)."""
    # A screen's heading is there once the page is parsed; its deferred scripts, which
    # define KioskQueue, run after that.
    page.wait_for_function("() => window.KioskQueue !== undefined")
    for _ in range(int(seconds * 5)):
        if page.evaluate("() => KioskQueue.count()") == 0:
            return
        page.wait_for_timeout(200)
    raise AssertionError("the offline queue was not sent")


def kiosk_signatures(server: LiveServer) -> list[Signature]:
    with server.app.app_context():
        return list(
            db.session.scalars(sa.select(Signature).where(Signature.channel == Channel.KIOSK))
        )


# --- enrolment -------------------------------------------------------------------------------


def test_volunteer_enrols_the_tablet_with_a_one_time_code(stand, tablet):
    server = stand()
    code = organiser_creates_kiosk(server)
    page = tablet.new_page()
    page.goto(f"{server.url}/kiosk")
    # Without enrolment /kiosk is only the enrolment page: no initiative, no sign form.
    assert page.get_by_role("heading", name="Koppla surfplattan till en station").is_visible()
    assert page.locator("form#sign").count() == 0

    volunteer_enrols_tablet(page, server, code.lower().replace("-", " "))  # as typed
    tablet_is_ready(page)
    assert page.get_by_role("heading", name="Tryggare Amiralsgatan").is_visible()
    [cookie] = [c for c in tablet.cookies() if c["name"] == "kiosk_device"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/kiosk"

    # The code worked once: another tablet cannot use it again.
    other = tablet.browser.new_context(viewport=TABLET)
    second = other.new_page()
    volunteer_enrols_tablet(second, server, code)
    expect(second.locator(".error-summary").get_by_text("Koden stämmer inte")).to_be_visible()
    other.close()


def test_a_wrong_or_expired_code_is_refused(stand, tablet):
    server = stand()
    code = organiser_creates_kiosk(server)
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, "ABCD-EFGH")
    expect(page.locator(".error-summary").get_by_text("Koden stämmer inte")).to_be_visible()

    with server.app.app_context():
        kiosk = db.session.scalars(sa.select(Kiosk)).one()
        kiosk.code_expires_at = clock.utcnow() - timedelta(minutes=1)
        db.session.commit()
    volunteer_enrols_tablet(page, server, code)
    expect(page.locator(".error-summary").get_by_text("Koden har gått ut")).to_be_visible()
    assert page.locator("form#sign").count() == 0
    assert not [c for c in tablet.cookies() if c["name"] == "kiosk_device"]


def test_a_revoked_tablet_is_locked_out_on_its_next_request(stand, tablet):
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    token = page.locator("meta[name='kiosk-token']").get_attribute("content")

    result = server.app.test_cli_runner().invoke(args=["kiosk", "revoke", "Stand 1"])
    assert result.exit_code == 0, result.output
    page.get_by_role("link", name="Svenska", exact=True).click()
    # The next request lands on enrolment, and the cookie is gone.
    page.get_by_role("heading", name="Koppla surfplattan till en station").wait_for()
    assert page.locator("form#sign").count() == 0
    assert not [c for c in tablet.cookies() if c["name"] == "kiosk_device"]
    status = page.evaluate(
        """async (token) => (await fetch('/kiosk/api/submissions', {method: 'POST',
             headers: {'X-Kiosk-Token': token}, body: new URLSearchParams({name: 'x'})})).status""",
        token,
    )
    assert status == 403


# --- the loop --------------------------------------------------------------------------------


def test_three_residents_sign_in_a_row_and_none_can_reach_the_previous_one(stand, tablet):
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)

    signed: list[tuple[str, str]] = []
    for name, email, language in RESIDENTS:
        resident_fills_in(page, name, email, language)
        # Every personal field refuses autofill on a shared tablet.
        for field in page.locator("form#sign input:not([type=hidden])").all():
            assert field.get_attribute("autocomplete") == "off"
        if language == "العربية":
            assert page.locator("html").get_attribute("dir") == "rtl"
            assert page.locator("html").get_attribute("lang") == "ar"
        page.locator("button.kiosk-submit").click()
        page.wait_for_url(re.compile(r"/kiosk/thanks/"))
        if language == "Svenska":
            assert "bekräfta inom 7 dagar" in page.content()
        # The thank-you screen returns by itself to a blank start screen, in Swedish.
        page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
        assert page.locator("html").get_attribute("lang") == "sv"
        signed.append((name, email))
        for earlier_name, earlier_email in signed:
            assert earlier_name not in everything_on_screen(page)
            assert earlier_email not in everything_on_screen(page)
        # Back does not bring the signer back: not the form, not the thank-you screen.
        page.go_back()
        page.wait_for_load_state()
        for earlier_name, earlier_email in signed:
            assert earlier_name not in everything_on_screen(page)
            assert earlier_email not in everything_on_screen(page)
        assert "/kiosk/sign/" not in page.url and "/kiosk/thanks/" not in page.url
        page.goto(f"{server.url}/kiosk")

    rows = kiosk_signatures(server)
    assert len(rows) == 3
    assert {r.locale for r in rows} == {"sv", "ar", "en"}
    assert all(r.kiosk_id is not None and r.state == "pending" for r in rows)
    assert all(r.device_signed_at is not None for r in rows)
    with server.app.app_context():
        mails = db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "confirm")
        )
    assert mails == 3  # the same rule as on the web: each must confirm by email


def test_an_idle_form_warns_then_empties_itself(stand, tablet, artifacts):
    server = stand()  # idle 60 s, then the warning for 15 s
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    # The page's clock is paused and moved on by the test: on the wall clock (a warning
    # of a few seconds) a loaded machine could see the warning too late to answer it.
    page.clock.install()
    page.get_by_role("link", name="Svenska", exact=True).click()
    page.wait_for_url(re.compile(r"/kiosk/sign/sv$"))
    page.clock.pause_at(page.evaluate("() => Date.now() / 1000") + 1)
    page.locator("#name").fill("Amira Hassan")

    warning = page.get_by_role("alertdialog", name="Är du kvar?")
    page.clock.run_for(61_000)
    warning.wait_for(state="visible")
    warning.get_by_role("button", name="Jag är kvar").click()
    assert warning.is_hidden()
    assert page.locator("#name").input_value() == "Amira Hassan"

    page.locator("#email").fill("amira@example.org")
    page.clock.run_for(61_000)
    warning.wait_for(state="visible")
    page.screenshot(path=str(artifacts / "kiosk-idle-warning-sv.png"))
    page.clock.run_for(15_000)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert "Amira Hassan" not in everything_on_screen(page)
    assert "amira@example.org" not in everything_on_screen(page)
    assert kiosk_signatures(server) == []


def test_an_idle_form_empties_itself_even_when_the_tablets_clock_is_set_back(stand, tablet):
    """The tablet's clock was an hour fast and is corrected (as when the network returns)
    while a resident types: the form still warns and empties itself for the next one."""
    server = stand()  # idle 60 s, then the warning for 15 s
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    # The page's clock is paused and moved on by the test (as in the test above); the
    # wall clock alone is set back.
    page.clock.install()
    page.get_by_role("link", name="Svenska", exact=True).click()
    page.wait_for_url(re.compile(r"/kiosk/sign/sv"))
    page.clock.pause_at(page.evaluate("() => Date.now() / 1000") + 1)
    page.locator("#name").fill("Amira Hassan")
    page.locator("#email").fill("amira@example.org")
    page.clock.set_system_time(page.evaluate("() => Date.now() / 1000") - 3600)  # seconds

    page.clock.run_for(61_000)
    page.get_by_role("alertdialog", name="Är du kvar?").wait_for(state="visible")
    page.clock.run_for(15_000)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert "Amira Hassan" not in everything_on_screen(page)
    assert "amira@example.org" not in everything_on_screen(page)


def test_a_resident_reading_the_whole_proposal_is_not_emptied_mid_reading(stand, tablet):
    """Amira has typed her name and reads the whole proposal without touching the screen
    for longer than the idle minute: the form emptied itself under her.  While the
    proposal is open the idle time is KIOSK_READING_IDLE_SECONDS (three minutes), still
    with the warning first; scrolling it counts as a touch, and closing it brings back
    the minute.  The page's clock is paused and moved on by the test."""
    server = stand(texts=AMIRALSGATAN_SV_AR)  # idle 60 s, reading 180 s, warning 15 s
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    page.clock.install()
    resident_fills_in(page, "Amira Hassan", "amira@example.org")
    page.clock.pause_at(page.evaluate("() => Date.now() / 1000") + 1)
    warning = page.get_by_role("alertdialog", name="Är du kvar?")
    toggle = page.locator("summary", has_text="Läs hela förslaget")
    body = page.get_by_text(AMIRALSGATAN_SV_AR["sv"]["body"])
    toggle.click()
    body.wait_for()

    page.clock.run_for(90_000)  # past the minute and its warning: she is still reading
    assert warning.is_hidden()
    assert page.locator("#name").input_value() == "Amira Hassan"

    box = body.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # The browser hands a wheel to the page at its next frame: wait until it has.
    page.evaluate(
        "() => { window.wheeled = new Promise((done) => document.addEventListener("
        "'wheel', done, {once: true, capture: true})); }"
    )
    page.mouse.wheel(0, 120)  # she scrolls the text: a touch, as anywhere on the page
    page.evaluate("() => window.wheeled.then(() => true)")
    page.clock.run_for(179_000)
    assert warning.is_hidden()
    page.clock.run_for(1_500)  # three minutes without a touch: the warning, not a reset
    warning.wait_for(state="visible")
    assert page.locator("[data-idle-countdown]").inner_text() == "15"
    assert page.locator("#name").input_value() == "Amira Hassan"

    # She is there; she closes the proposal and leaves: the minute counts again.
    warning.get_by_role("button", name="Jag är kvar").click()
    toggle.click()
    assert body.is_hidden()
    page.clock.run_for(61_000)
    warning.wait_for(state="visible")
    page.clock.run_for(15_000)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert "Amira Hassan" not in everything_on_screen(page)
    assert "amira@example.org" not in everything_on_screen(page)
    assert kiosk_signatures(server) == []


def test_the_volunteer_panel_locks_itself_when_left_alone(stand, tablet):
    server = stand()  # the volunteer's pages lock after KIOSK_IDLE_SECONDS, 60 here
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    # The test moves the page's clock past the idle time once it has seen the panel: on
    # the wall clock (2 s) a loaded machine saw the panel only after it had locked itself.
    page.clock.install()
    volunteer_unlocks(page)
    page.get_by_role("heading", name="Volontär: Stand 1").wait_for()
    page.clock.fast_forward(61_000)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for(timeout=10000)
    page.goto(f"{server.url}/kiosk/volunteer/panel")
    assert page.url.endswith("/kiosk/volunteer")  # the PIN is needed again


def test_the_panel_left_alone_while_the_network_is_down_returns_to_the_loop(stand, tablet):
    """The panel locks itself after a while.  With the stand's connection down, that lock
    (a form sent to the server) ended on the browser's own "no internet" page, where
    nobody could sign until the network returned: it returns to the tablet's start
    screen, and residents sign offline as on any other screen."""
    server = stand()  # idle 60 s, passed on the page's clock when the test says
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    page.clock.install()
    volunteer_unlocks(page)
    page.get_by_role("heading", name="Volontär: Stand 1").wait_for()
    tablet.set_offline(True)
    page.clock.fast_forward(61_000)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for(timeout=15000)
    resident_signs_at_stand(page, *RESIDENTS[0][:2])
    page.wait_for_url(re.compile(r"/kiosk/saved/"))
    assert page.evaluate("() => KioskQueue.count()") == 1

    # The button back to the loop works offline too.
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    tablet.set_offline(False)
    queue_drains(page)
    volunteer_unlocks(page)
    page.get_by_role("heading", name="Volontär: Stand 1").wait_for()
    tablet.set_offline(True)
    page.get_by_role("button", name="Tillbaka till insamlingen").click()
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert len(kiosk_signatures(server)) == 1


def test_volontar_tapped_while_the_network_is_down_keeps_the_tablet_in_the_loop(stand, tablet):
    """The volunteer's pages need the network.  Tapped while the stand's connection was
    down, Volontär opened the browser's own "no internet" page (the start screen's history
    entry replaced), and nobody could sign until the network returned: the tablet stays
    on its start screen, which says the network is down, and residents sign offline."""
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    tablet.set_offline(True)
    page.get_by_role("link", name="Volontär").click()
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    expect(page.get_by_text("Utan nät: underskrifter sparas på surfplattan")).to_be_visible()
    resident_signs_at_stand(page, *RESIDENTS[0][:2])
    page.wait_for_url(re.compile(r"/kiosk/saved/"))
    assert page.evaluate("() => KioskQueue.count()") == 1

    # The PIN page opened online, the PIN sent once the network dropped: the same.
    tablet.set_offline(False)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    page.get_by_role("link", name="Volontär").click()
    page.get_by_label("PIN-kod").fill(PIN)
    tablet.set_offline(True)
    page.get_by_role("button", name="Fortsätt").click()
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()

    # Online again, the PIN opens the panel as before.
    tablet.set_offline(False)
    volunteer_unlocks(page)
    page.get_by_role("heading", name="Volontär: Stand 1").wait_for()


def test_touch_targets_are_at_least_44_pixels(stand, tablet):
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    targets = "a, button, input:not([type=hidden]), label[for]"
    for box in [e.bounding_box() for e in page.locator(f"main :is({targets})").all()]:
        assert box["height"] >= 44, box
    page.get_by_role("link", name="Svenska", exact=True).click()
    # Measured once the form is all there and styled (the click returns when the page
    # starts to load).
    page.wait_for_url(re.compile(r"/kiosk/sign/sv$"))
    # (The "Menade du …?" button is hidden until asked: measured where it is shown.)
    for element in page.locator("form#sign :is(button, input:not([type=hidden])):visible").all():
        box = element.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box


# --- the privacy notice ------------------------------------------------------------------------


def translated(lang: str, msgid: str) -> str:
    """What the tablet shows for a Swedish string in ``lang``."""
    if lang == "sv":
        return msgid
    message = catalogs.load_catalog(lang).get(msgid)
    assert message is not None and message.string, (lang, msgid)
    return message.string


def no_axe_violations(page: Any) -> None:
    violations = Axe().run(page).response["violations"]
    assert violations == [], [v["id"] for v in violations]


def amira_signs_with_what_she_typed(page: Any, server: Any) -> None:
    """Back on the Swedish form after reading something over it: what Amira typed is
    all still there, and it signs."""
    assert page.url.endswith("/kiosk/sign/sv")
    assert page.locator("#name").input_value() == "Amira Hassan"
    assert page.locator("#email").input_value() == "amira@example.org"
    assert page.locator("#postcode").input_value() == "213 64"
    assert page.locator("#resident").is_checked() and page.locator("#consent").is_checked()
    page.locator("button.kiosk-submit").click()
    page.wait_for_url(re.compile(r"/kiosk/thanks/sv"))
    assert len(kiosk_signatures(server)) == 1


def test_a_resident_reads_the_privacy_notice_and_comes_back_to_what_she_typed(
    stand, tablet, artifacts
):
    """She is asked to consent "as the privacy notice describes": the notice opens over
    the form, inside the kiosk, and the way back keeps everything she typed."""
    server = stand(texts=AMIRALSGATAN_SV_AR)
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    resident_fills_in(page, "Amira Hassan", "amira@example.org")

    link = page.get_by_role("link", name="Läs integritetspolicyn")
    assert link.bounding_box()["height"] >= 44
    link.click()
    notice = page.get_by_role("dialog", name="Integritet och personuppgifter")
    notice.wait_for()
    notice.get_by_role("heading", name="Rättslig grund").wait_for()
    back = notice.get_by_role("button", name="Tillbaka till formuläret")
    assert back.bounding_box()["height"] >= 56
    # Scrolled to the end, the way back is still in sight.
    notice.get_by_role("heading", name="Dina rättigheter").scroll_into_view_if_needed()
    assert back.is_visible() and back.bounding_box()["y"] >= 0
    assert notice.get_by_role("link").count() == 0  # nothing leads out of the kiosk
    page.screenshot(path=str(artifacts / "kiosk-privacy-notice-sv.png"))
    no_axe_violations(page)
    notice.get_by_role("button", name="Tillbaka till formuläret").click()
    assert notice.is_hidden()
    amira_signs_with_what_she_typed(page, server)

    # Offline, in Arabic (right to left), the notice still opens from the tablet's copy.
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    tablet.set_offline(True)
    page.get_by_role("link", name="العربية").click()
    page.wait_for_url(re.compile(r"/kiosk/sign/ar"))
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.locator("#name").fill("أمينة")
    page.get_by_role("link", name=translated("ar", "Läs integritetspolicyn")).click()
    notice = page.get_by_role("dialog", name=translated("ar", "Integritet och personuppgifter"))
    notice.get_by_role("heading", name=translated("ar", "Rättslig grund")).wait_for()
    page.screenshot(path=str(artifacts / "kiosk-privacy-notice-ar-offline.png"))
    no_axe_violations(page)
    notice.get_by_role("button", name=translated("ar", "Tillbaka till formuläret")).click()
    assert page.locator("#name").input_value() == "أمينة"

    # The notice's own screen (where the link leads without the script) is kept too,
    # in every language.
    for lang, direction in (("fa", "rtl"), ("so", "ltr"), ("bs", "ltr"), ("en", "ltr")):
        page.goto(f"{server.url}/kiosk/privacy/{lang}")
        page.get_by_role("heading", name=translated(lang, "Rättslig grund")).wait_for()
        assert page.locator("html").get_attribute("dir") == direction
        no_axe_violations(page)
    page.get_by_role("link", name="Back to the form").click()
    page.wait_for_url(re.compile(r"/kiosk/sign/en"))
    page.locator("#name").wait_for()


def test_a_resident_reads_the_whole_proposal_and_signs_with_what_she_typed(
    stand, tablet, artifacts
):
    """She signs the whole text, not only its summary: she opens it on the sign screen,
    reads it, and signs with what she had typed; in Arabic too, with the network down."""
    server = stand(texts=AMIRALSGATAN_SV_AR)
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    resident_fills_in(page, "Amira Hassan", "amira@example.org")

    body = page.get_by_text(AMIRALSGATAN_SV_AR["sv"]["body"])
    assert body.is_hidden()
    toggle = page.locator("summary", has_text="Läs hela förslaget")
    assert toggle.bounding_box()["height"] >= 56
    toggle.click()
    body.wait_for()
    page.screenshot(path=str(artifacts / "kiosk-proposal-sv.png"))
    no_axe_violations(page)
    toggle.click()
    assert body.is_hidden()
    amira_signs_with_what_she_typed(page, server)

    # Offline, in Arabic (right to left), the text comes from the tablet's copy.
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    tablet.set_offline(True)
    resident_fills_in(page, "أمينة", "amina@example.org", "العربية")
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.locator("summary", has_text=translated("ar", "Läs hela förslaget")).click()
    arabic = page.get_by_text(AMIRALSGATAN_SV_AR["ar"]["body"])
    arabic.wait_for()
    assert page.get_by_text(AMIRALSGATAN_SV_AR["sv"]["body"]).count() == 0
    page.screenshot(path=str(artifacts / "kiosk-proposal-ar-offline.png"))
    no_axe_violations(page)
    assert page.locator("#name").input_value() == "أمينة"
    page.locator("button.kiosk-submit").click()
    page.wait_for_url(re.compile(r"/kiosk/saved/ar"))
    tablet.set_offline(False)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    queue_drains(page)
    assert len(kiosk_signatures(server)) == 2


def test_a_notice_left_open_returns_to_the_start_and_empties_the_form(stand, tablet):
    server = stand()  # idle 60 s, then the warning for 15 s
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    # The page's clock is paused and moved on by the test: on the wall clock (2 s) a
    # loaded machine could miss the notice or the warning before the screen moved on.
    page.clock.install()
    resident_fills_in(page, "Amira Hassan", "amira@example.org")
    page.clock.pause_at(page.evaluate("() => Date.now() / 1000") + 1)
    page.get_by_role("link", name="Läs integritetspolicyn").click()
    notice = page.get_by_role("dialog", name="Integritet och personuppgifter")
    notice.wait_for()

    # The warning is not hidden behind the notice: it can be answered.
    warning = page.get_by_role("alertdialog", name="Är du kvar?")
    page.clock.run_for(61_000)
    warning.wait_for(state="visible")
    assert notice.is_hidden()
    warning.get_by_role("button", name="Jag är kvar").click()
    assert page.locator("#name").input_value() == "Amira Hassan"

    page.get_by_role("link", name="Läs integritetspolicyn").click()
    notice.wait_for()
    page.clock.run_for(76_000)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert "Amira Hassan" not in everything_on_screen(page)
    assert "amira@example.org" not in everything_on_screen(page)
    assert kiosk_signatures(server) == []

    # The notice's own screen, left open, returns to the start too.
    page.goto(f"{server.url}/kiosk/privacy/sv")
    page.get_by_role("heading", name="Rättslig grund").wait_for()
    page.clock.run_for(61_000)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()


# --- offline ---------------------------------------------------------------------------------


def test_offline_signatures_are_kept_and_sent_once_when_the_network_returns(
    stand, tablet, artifacts
):
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)

    tablet.set_offline(True)
    for name, email, language in RESIDENTS[:2]:
        resident_signs_at_stand(page, name, email, language)
        page.wait_for_url(re.compile(r"/kiosk/saved/"))
        if language == "Svenska":
            expect(page.get_by_text("Din underskrift är sparad på surfplattan")).to_be_visible()
            page.screenshot(path=str(artifacts / "kiosk-saved-offline-sv.png"))
        page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
        assert name not in everything_on_screen(page)
    assert kiosk_signatures(server) == []

    # Still offline, the page reloads from the tablet's own copy, and the queue is there.
    page.reload()
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert page.evaluate("() => KioskQueue.count()") == 2
    # The footer's count is filled in once kiosk.js has read the queue (asynchronously).
    expect(page.locator("[data-queue-status] [data-queue-length]")).to_have_text("2")
    queued = page.evaluate("() => KioskQueue.all()")
    assert kiosk_signatures(server) == []

    tablet.set_offline(False)
    queue_drains(page)
    assert len(kiosk_signatures(server)) == 2

    # The client sends the whole queue a second time (an acknowledgement got lost, say):
    # every send is acknowledged, nothing is stored twice.
    answers = page.evaluate(
        "async (entries) => Promise.all(entries.map(e => KioskQueue.send(e)))", queued
    )
    assert [a["kind"] for a in answers] == ["ok", "ok"]
    rows = kiosk_signatures(server)
    assert len(rows) == 2
    assert {r.client_uuid for r in rows} == {e["uuid"] for e in queued}
    for row in rows:
        # The device's signing time and the server's receipt time are both kept.
        assert row.device_signed_at is not None and row.created_at >= row.device_signed_at


def test_an_arabic_signer_offline_reads_the_form_in_the_shipped_arabic_font(stand, tablet):
    """The tablet keeps the Arabic font with its screens: without the network, an Arabic
    or Persian signer's form would otherwise fall back to whatever font the tablet has,
    boxes on one without Arabic letters."""
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)

    tablet.set_offline(True)
    page.get_by_role("link", name="العربية", exact=True).click()
    page.wait_for_url(re.compile(r"/kiosk/sign/ar$"))
    faces = page.evaluate(
        """async () => {
            await document.fonts.ready;
            return [...document.fonts]
                .filter((face) => face.family.includes("Noto Sans Arabic"))
                .map((face) => [face.weight, face.status]);
        }"""
    )
    # Regular for the text, bold for the headings and labels.
    assert sorted(faces) == [["400", "loaded"], ["700", "loaded"]], faces


# Every record of the tablet's IndexedDB, read with the browser's own API (not through
# the queue's script): what someone with the tablet and devtools would find.
READ_INDEXED_DB = """async () => {
  const names = (await indexedDB.databases()).map((d) => d.name);
  const found = [];
  for (const name of names) {
    const db = await new Promise((ok, no) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => no(r.error);
    });
    for (const store of Array.from(db.objectStoreNames)) {
      const rows = await new Promise((ok, no) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => ok(r.result);
        r.onerror = () => no(r.error);
      });
      found.push(...rows);
    }
    db.close();
  }
  return JSON.stringify(found);
}"""


def test_a_queued_signature_is_sealed_on_the_tablet_and_arrives_when_online(stand, tablet, smtp):
    """Yusuf's tablet loses the network; Amira signs.  Whoever picks up the tablet later
    and opens devtools finds her entry in IndexedDB, but neither her name nor her address
    in any field: only the server can open it.  Back online, it arrives, and Amira gets
    her confirmation mail."""
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    tablet.set_offline(True)
    resident_signs_at_stand(page, "Amira Hassan", "amira.hassan@example.org", "العربية")
    page.wait_for_url(re.compile(r"/kiosk/saved/"))
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    page.wait_for_function("() => window.KioskQueue !== undefined")

    [entry] = page.evaluate("() => KioskQueue.all()")
    stored = page.evaluate(READ_INDEXED_DB)
    assert entry["uuid"] in stored and "sealed" in entry
    # ("amira" alone is in the initiative's slug, amiralsgatan.)
    for secret in ("Amira Hassan", "Hassan", "amira.hassan", "example.org", "213 64", "21364"):
        assert secret.lower() not in stored.lower(), secret
    assert set(entry["fields"]) <= {"initiative", "text_version"}
    assert kiosk_signatures(server) == []

    tablet.set_offline(False)
    queue_drains(page)
    [row] = kiosk_signatures(server)
    assert row.client_uuid == entry["uuid"] and row.locale == "ar"
    with server.app.app_context():
        from initiatives import outbox
        from initiatives.mail import compose

        assert outbox.deliver_due(server.app, compose).sent == 1
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "amira.hassan@example.org"
    assert page.evaluate(READ_INDEXED_DB) == "[]"


def organiser_makes_a_new_code(server: LiveServer, name: str = "Stand 1") -> str:
    result = server.app.test_cli_runner().invoke(args=["kiosk", "code", name, "--no-qr"])
    assert result.exit_code == 0, result.output
    return re.search(r"Enrolment code: (\S+)", result.output).group(1)


def reasons_not_delivered(page: Any) -> list[str]:
    """The panel's lines saying why signatures did not arrive, with their counts."""
    return page.locator("[data-queue-rejected] [data-rejected-reason]:visible").all_inner_texts()


def panel_counts_not_delivered(page: Any, count: int, reason: str) -> None:
    volunteer_unlocks(page)
    page.wait_for_url(re.compile(r"/kiosk/volunteer/panel"))
    page.wait_for_function("() => window.KioskQueue !== undefined")
    queue_drains(page)
    page.evaluate("() => KioskQueue.notify()")
    page.locator("[data-queue-rejected]").wait_for(state="visible", timeout=10_000)
    assert page.locator("[data-queue-rejected-count]").inner_text() == str(count)
    assert reasons_not_delivered(page) == [f"{reason} {count}"]


UNREADABLE = (
    "Gick inte att öppna (surfplattan hade kopplats bort från stationen eller till en "
    "annan, eller underskriften var skadad):"
)
DISCARDED = "Raderade här, eftersom stationen inte längre samlar in till deras initiativ:"


def test_a_tablet_unbound_with_a_queue_cannot_deliver_it_and_says_how_many(stand, tablet):
    """The organiser unbinds the tablet (reported lost) while it holds a sealed entry:
    the key is deleted, so nobody can read the entry.  Found again and enrolled with a
    new code, the tablet hears from the server that the entry cannot be opened, deletes
    it and shows the volunteer that one signature was not delivered, and why."""
    server = stand()
    page = one_signature_queued_offline(server, tablet)
    with server.app.app_context():
        kiosk = db.session.scalars(sa.select(Kiosk)).one()
        kiosks.unenrol(kiosk, actor="test")
        db.session.commit()
    tablet.set_offline(False)
    volunteer_enrols_tablet(page, server, organiser_makes_a_new_code(server))
    tablet_is_ready(page)
    panel_counts_not_delivered(page, 1, UNREADABLE)
    assert kiosk_signatures(server) == []


def test_the_same_tablet_enrolled_again_still_delivers_its_queue(stand, tablet):
    """The volunteer forgot the PIN: a new code for the same stand, typed on the same
    tablet, which holds a signature from before.  It arrives."""
    server = stand()
    page = one_signature_queued_offline(server, tablet)
    tablet.set_offline(False)
    page.goto(f"{server.url}/kiosk/enrol/{organiser_makes_a_new_code(server).replace('-', '')}")
    page.get_by_label("Välj en PIN-kod").fill(PIN)
    page.get_by_label("Skriv PIN-koden igen").fill(PIN)
    page.get_by_role("button", name="Koppla surfplattan").click()
    tablet_is_ready(page)
    queue_drains(page)
    assert len(kiosk_signatures(server)) == 1


def test_a_signature_older_than_the_queue_limit_is_dropped_by_the_tablet(stand, tablet):
    """An entry that waited KIOSK_QUEUE_MAX_DAYS (the tablet stayed in a cupboard) is
    deleted by the tablet itself, not sent, and counted as not delivered."""
    server = stand(KIOSK_QUEUE_MAX_DAYS=2)
    page = one_signature_queued_offline(server, tablet)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    page.wait_for_function("() => window.KioskQueue !== undefined")
    page.evaluate(
        """async () => {
          const [entry] = await KioskQueue.all();
          entry.queuedAt -= 2 * 24 * 60 * 60 * 1000 + 60 * 1000;
          await KioskQueue.add(entry);
        }"""
    )
    tablet.set_offline(False)
    panel_counts_not_delivered(page, 1, "Väntade mer än 2 dagar på surfplattan:")
    assert kiosk_signatures(server) == []


@pytest.fixture
def insecure_tablet(browser: Any) -> Iterator[Callable[[LiveServer], tuple[Any, str]]]:
    """A tablet that reaches the stand's server by a name over plain http: not a secure
    context, so the browser offers no WebCrypto (nor service workers).  A second Chromium
    maps the name to loopback (127.0.0.1 itself would count as secure)."""
    opened: list[Any] = []

    def open_for(server: LiveServer) -> tuple[Any, str]:
        other = browser.browser_type.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP stand.test 127.0.0.1"],
            headless=True,
        )
        opened.append(other)
        context = other.new_context(viewport=TABLET, locale="sv-SE")
        return context, f"http://stand.test:{server.port}"

    yield open_for
    for other in opened:
        other.close()


def test_without_a_secure_connection_nothing_is_saved_in_plain_text(stand, insecure_tablet):
    """Over plain http to another machine the tablet cannot seal: it must not keep the
    signature in plain text instead.  The volunteer sees why, on the start screen and the
    panel (not in the footer of every screen, where residents read it as theirs); the
    resident is told that her signature was not saved, and what she typed stays for
    another try."""
    server = stand()
    context, url = insecure_tablet(server)
    page = context.new_page()
    code = organiser_creates_kiosk(server)
    page.goto(f"{url}/kiosk")
    page.get_by_label("Kod", exact=True).fill(code)
    page.get_by_label("Välj en PIN-kod").fill(PIN)
    page.get_by_label("Skriv PIN-koden igen").fill(PIN)
    page.get_by_role("button", name="Koppla surfplattan").click()
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert page.evaluate("() => window.isSecureContext") is False
    page.get_by_text("Till volontären: anslutningen är inte säker (https)").wait_for()

    resident_fills_in(page, "Amira Hassan", "amira@example.org")
    assert page.get_by_text("inte säker (https)").count() == 0
    context.set_offline(True)
    page.locator("button.kiosk-submit").click()
    message = page.locator("[data-form-message]")
    message.wait_for()
    assert "Din underskrift är inte sparad" in message.inner_text()
    assert "/kiosk/sign/" in page.url
    assert page.locator("#email").input_value() == "amira@example.org"
    assert page.evaluate("() => KioskQueue.count()") == 0

    context.set_offline(False)
    page.locator("button.kiosk-submit").click()
    page.wait_for_url(re.compile(r"/kiosk/thanks/"))
    assert len(kiosk_signatures(server)) == 1
    assert page.get_by_text("inte säker (https)").count() == 0

    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    volunteer_unlocks(page)
    page.get_by_role("heading", name="Volontär: Stand 1").wait_for()
    page.get_by_text("Anslutningen är inte säker (https)").wait_for()


def server_refuses(server: LiveServer, address: str) -> bool:
    """Whether the server's own form refuses this address (what a queued send would meet)."""
    with server.app.test_request_context(method="POST", data={"email": address}):
        form = SubmissionForm()
        form.validate()
        return bool(form.email.errors)


# Typos a tablet's keyboard makes that the server refuses: a dot before the @ or twice,
# a comma, a digit typed after the domain.
REFUSED_ADDRESSES = [
    "amira.@example.org",
    "amira..hassan@example.org",
    "amira,hassan@example.org",
    "amira@example.org1",
]


def test_an_address_the_server_would_refuse_is_not_queued_as_saved(stand, tablet):
    """Offline, the tablet checks what it can before saying "saved": an address the server
    refuses is refused on the tablet too, so the signer hears it now, not never."""
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    tablet.set_offline(True)
    resident_fills_in(page, "Åsa Lindqvist", "åsa@example.se")
    page.locator("button.kiosk-submit").click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "tecken utanför a–z före @" in summary.inner_text()
    assert "/kiosk/sign/" in page.url
    assert page.evaluate("() => KioskQueue.count()") == 0

    for address in REFUSED_ADDRESSES:
        assert server_refuses(server, address), address
        page.locator("#email").fill(address)
        page.locator("button.kiosk-submit").click()
        page.locator(".error-summary").get_by_text("Skriv en giltig e-postadress").wait_for()
        assert "/kiosk/sign/" in page.url, address
        assert page.evaluate("() => KioskQueue.count()") == 0, address

    # What the server takes is still saved: a domain in its own letters, a + and a '.
    accepted = "amira.o'hassan+stand@exämple.se"
    assert not server_refuses(server, accepted)
    page.locator("#email").fill(accepted)
    page.locator("button.kiosk-submit").click()
    page.wait_for_url(re.compile(r"/kiosk/saved/"))
    assert page.evaluate("() => KioskQueue.count()") == 1


def test_a_name_with_a_web_address_is_not_queued_as_saved(stand, tablet):
    """Offline, the tablet checks the name with the server's own pattern: a link in it is
    refused now (the signer would otherwise be told "saved" and the entry refused later),
    and real names with dots after initials are saved."""
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    tablet.set_offline(True)
    resident_fills_in(page, "bit.ly/x", "amira@example.org")
    for name in ADDRESS_NAMES:
        page.locator("#name").fill(name)
        page.locator("button.kiosk-submit").click()
        page.locator(".error-summary").get_by_text(NO_ADDRESS).wait_for()
        assert "/kiosk/sign/" in page.url, name
        assert page.evaluate("() => KioskQueue.count()") == 0, name

    # Every real name passes the tablet's check, as it passes the server's.
    flagged = page.evaluate(
        """(names) => {
            const input = document.getElementById("name");
            const invisible = new RegExp(input.dataset.invisiblePattern, "gu");
            const address = new RegExp(input.dataset.addressPattern, "iu");
            return names.filter((name) => address.test(name.replace(invisible, "")));
        }""",
        REAL_NAMES,
    )
    assert flagged == []
    page.locator("#name").fill("A.B. Svensson")
    page.locator("button.kiosk-submit").click()
    page.wait_for_url(re.compile(r"/kiosk/saved/"))
    assert page.evaluate("() => KioskQueue.count()") == 1


def one_signature_queued_offline(server: LiveServer, tablet: Any) -> Any:
    """An enrolled tablet, offline, with one resident's signature in its queue: its page."""
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    tablet.set_offline(True)
    resident_signs_at_stand(page, *RESIDENTS[0][:2])
    page.wait_for_url(re.compile(r"/kiosk/saved/"))
    return page


def test_an_answer_that_is_not_the_servers_acknowledgement_keeps_the_entry(stand, tablet):
    """Something between the tablet and the server answers in its place with 200 (a
    proxy's maintenance page, a captive portal): the entry was deleted as if the server
    had stored it.  Only the server's own acknowledgement deletes it."""
    server = stand()
    page = one_signature_queued_offline(server, tablet)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    page.wait_for_function("() => window.KioskQueue !== undefined")
    maintenance = "<!doctype html><title>Underhåll</title><p>Tillbaka snart.</p>"
    tablet.route(
        "**/kiosk/api/submissions",
        lambda route: route.fulfill(status=200, content_type="text/html", body=maintenance),
    )
    tablet.set_offline(False)
    page.evaluate("() => KioskQueue.flush()")
    assert page.evaluate("() => KioskQueue.count()") == 1
    assert kiosk_signatures(server) == []

    tablet.unroute("**/kiosk/api/submissions")
    queue_drains(page)
    assert len(kiosk_signatures(server)) == 1


def test_the_queue_survives_a_browser_restart(stand, browser, tablet):
    server = stand()
    one_signature_queued_offline(server, tablet)
    state = tablet.storage_state(indexed_db=True)
    tablet.close()  # the browser is closed with one signature on the tablet

    restarted = browser.new_context(viewport=TABLET, storage_state=state)
    try:
        again = restarted.new_page()
        again.goto(f"{server.url}/kiosk")
        queue_drains(again)
        assert len(kiosk_signatures(server)) == 1
    finally:
        restarted.close()


def test_a_signature_taken_before_the_organiser_closed_is_sent_and_kept(stand, tablet):
    """Signed offline; the organiser closes the collection before the network returns.
    The resident was told it was saved: the queue sends it, the server takes it (pending,
    to be confirmed from the email), and nothing is counted as refused."""
    server = stand()
    page = one_signature_queued_offline(server, tablet)
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    with server.app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        initiative.state = InitiativeState.CLOSED
        initiative.closed_at = clock.utcnow()
        db.session.commit()
    tablet.set_offline(False)
    queue_drains(page)
    [row] = kiosk_signatures(server)
    assert row.state == "pending" and row.device_signed_at < row.created_at
    assert page.evaluate("() => localStorage.getItem('initiatives-kiosk-rejected')") is None


def test_a_signature_the_server_refuses_is_counted_on_the_panel_for_that_day_only(stand, tablet):
    """Signed offline, sent after the collection closed: the panel says the server did
    not take it, that day; the notice does not stay on the panel for good."""
    server = stand()
    page = one_signature_queued_offline(server, tablet)
    with server.app.app_context():
        db.session.scalars(sa.select(Initiative)).one().state = InitiativeState.CLOSED
        db.session.commit()
    tablet.set_offline(False)
    volunteer_unlocks(page)
    page.wait_for_url(re.compile(r"/kiosk/volunteer/panel"))
    page.wait_for_function("() => window.KioskQueue !== undefined")
    queue_drains(page)
    page.evaluate("() => KioskQueue.notify()")
    notice = page.locator("[data-queue-rejected]")
    # Waited for, not read at once: the panel may still be settling (its own flush, a
    # shell refresh) when the queue is already empty.
    notice.wait_for(state="visible", timeout=10_000)
    assert page.locator("[data-queue-rejected-count]").inner_text() == "1"
    assert reasons_not_delivered(page) == ["Insamlingen hade stängt: 1"]
    assert kiosk_signatures(server) == []

    # The next day (the count was kept for yesterday): nothing to report.
    page.evaluate(
        """() => {
          const key = "initiatives-kiosk-rejected";
          const stored = JSON.parse(localStorage.getItem(key));
          localStorage.setItem(key, JSON.stringify({day: "2000-1-1", uuids: stored.uuids}));
          return KioskQueue.notify();
        }"""
    )
    notice.wait_for(state="hidden", timeout=10_000)


def test_signatures_for_an_initiative_the_kiosk_lost_are_shown_and_can_be_discarded(stand, tablet):
    """Signed offline; meanwhile the organiser took the initiative off this kiosk, so the
    server answers "not assigned".  The entry stayed on the tablet for good, with the
    resident's name and address, unseen, and blocked "Lämna stationsläget": the panel
    shows how many, and the volunteer may discard them after confirming."""
    server = stand()
    create_initiative(server.app, "parklek", texts={"sv": {"title": "Ny lekplats"}})
    page = one_signature_queued_offline(server, tablet)
    with server.app.app_context():
        kiosk = db.session.scalars(sa.select(Kiosk)).one()
        parklek = db.session.scalars(sa.select(Initiative).where(Initiative.slug == "parklek"))
        kiosk.initiatives = [parklek.one()]
        db.session.commit()
    tablet.set_offline(False)
    volunteer_unlocks(page)
    page.wait_for_url(re.compile(r"/kiosk/volunteer/panel"))
    page.wait_for_function("() => window.KioskQueue !== undefined")
    page.evaluate("() => KioskQueue.flush()")
    stranded = page.locator("[data-queue-stranded]")
    stranded.wait_for(state="visible", timeout=10_000)
    assert page.locator("[data-queue-stranded-count]").inner_text() == "1"
    assert page.evaluate("() => KioskQueue.count()") == 1
    assert "Amira Hassan" not in page.content()

    discard = page.get_by_role("button", name="Radera dem från surfplattan")
    page.once("dialog", lambda dialog: dialog.dismiss())  # the volunteer hesitates
    discard.click()
    assert page.evaluate("() => KioskQueue.count()") == 1
    page.once("dialog", lambda dialog: dialog.accept())
    discard.click()
    stranded.wait_for(state="hidden", timeout=10_000)
    assert page.evaluate("() => KioskQueue.count()") == 0
    assert kiosk_signatures(server) == []
    assert reasons_not_delivered(page) == [f"{DISCARDED} 1"]

    page.get_by_role("button", name="Lämna stationsläget").click()
    page.get_by_role("heading", name="Koppla surfplattan till en station").wait_for()


# --- volunteer -------------------------------------------------------------------------------


def test_volunteer_sees_todays_count_switches_initiative_and_leaves(stand, tablet):
    server = stand()
    create_initiative(
        server.app,
        "parklek",
        texts={"sv": {"title": "Ny lekplats i Rosengårdsparken", "summary": "Gungor."}},
    )
    page = tablet.new_page()
    code = organiser_creates_kiosk(server, "amiralsgatan", "parklek")
    volunteer_enrols_tablet(page, server, code)
    tablet_is_ready(page)
    resident_signs_at_stand(page, *RESIDENTS[0][:2])
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()

    page.get_by_role("link", name="Volontär").click()
    page.get_by_label("PIN-kod").fill("0000")
    page.get_by_role("button", name="Fortsätt").click()
    expect(page.locator(".error-summary").get_by_text("PIN-koden stämmer inte")).to_be_visible()
    page.get_by_label("PIN-kod").fill(PIN)
    page.get_by_role("button", name="Fortsätt").click()
    assert page.locator("[data-today-received]").inner_text() == "1"
    assert page.locator("dd [data-queue-length]").inner_text() == "0"
    assert "Amira Hassan" not in page.content() and "amira@" not in page.content()

    page.get_by_label("Ny lekplats i Rosengårdsparken").check()
    page.get_by_role("button", name="Byt initiativ").click()
    page.get_by_role("heading", name="Ny lekplats i Rosengårdsparken").wait_for()

    volunteer_unlocks(page)
    page.get_by_role("button", name="Lämna stationsläget").click()
    page.get_by_role("heading", name="Koppla surfplattan till en station").wait_for()
    assert not [c for c in tablet.cookies() if c["name"] == "kiosk_device"]


# --- what people look at ----------------------------------------------------------------------


def arabic(msgid: str) -> str:
    """What the Arabic tablet must show for a Swedish string."""
    message = catalogs.load_catalog("ar").get(msgid)
    assert message is not None and message.string, msgid
    return message.string


def test_kiosk_screenshots_in_swedish_and_arabic_pass_axe(stand, tablet, artifacts):
    server = stand(texts=AMIRALSGATAN_SV_AR, KIOSK_THANKS_SECONDS=60)
    page = tablet.new_page()
    axe = Axe()

    def look(name: str) -> None:
        page.screenshot(path=str(artifacts / f"kiosk-{name}.png"))
        violations = axe.run(page).response["violations"]
        assert violations == [], [v["id"] for v in violations]

    page.goto(f"{server.url}/kiosk")
    look("enrol-sv")
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    look("start-sv")
    # Each screen is looked at once it has loaded: a click returns when the next page
    # starts to load, before all of it is there and styled.
    page.get_by_role("link", name="Svenska", exact=True).click()
    page.wait_for_url(re.compile(r"/kiosk/sign/sv$"))
    look("sign-sv")
    page.locator("button.kiosk-submit").click()  # empty: the errors are shown
    expect(page.locator(".error-summary")).to_be_visible()
    look("errors-sv")
    page.get_by_role("link", name="Avbryt").click()
    page.get_by_role("link", name="العربية").click()
    page.wait_for_url(re.compile(r"/kiosk/sign/ar$"))
    assert page.locator("html").get_attribute("dir") == "rtl"
    # The whole screen is in Arabic, not only the initiative's text.
    page.get_by_role("heading", name=arabic("Om dina uppgifter")).wait_for()
    assert page.get_by_role("button", name=arabic("Skriv under")).is_visible()
    assert page.get_by_role("link", name=arabic("Avbryt")).is_visible()
    assert "Avbryt" not in page.locator("body").inner_text()
    look("sign-ar")
    page.locator("#name").fill("أمينة")
    page.locator("#email").fill("amina@example.org")
    # The tablet's Arabic keyboard types Arabic-Indic digits: the form takes them.
    page.locator("#postcode").fill("٢١٣ ٦٤")
    page.locator("#resident").check()
    page.locator("#consent").check()
    page.locator("button.kiosk-submit").click()
    page.wait_for_url(re.compile(r"/kiosk/thanks/ar"))
    with server.app.app_context():
        area = db.session.scalar(
            sa.select(Signature.postcode_area).where(Signature.channel == Channel.KIOSK)
        )
    assert area == "213"
    page.get_by_role("heading", name=arabic("Tack för din underskrift!")).wait_for()
    look("thanks-ar")
    page.get_by_role("link", name=arabic("Klar")).click()
    page.get_by_role("link", name="Volontär").click()
    page.wait_for_url(re.compile(r"/kiosk/volunteer$"))
    look("pin-sv")
    page.get_by_label("PIN-kod").fill(PIN)
    page.get_by_role("button", name="Fortsätt").click()
    page.wait_for_url(re.compile(r"/kiosk/volunteer/panel$"))
    page.locator("[data-today-received]").wait_for()
    look("panel-sv")
    # The organiser closes the collection: the start screen says so in every language.
    with server.app.app_context():
        db.session.scalars(sa.select(Initiative)).one().state = InitiativeState.CLOSED
        db.session.commit()
    page.goto(f"{server.url}/kiosk")
    arabic_line = page.locator('.kiosk-closed-languages li[lang="ar"]')
    expect(arabic_line).to_have_text(arabic("Här går det inte att skriva under just nu"))
    assert arabic_line.evaluate("li => getComputedStyle(li).direction") == "rtl"
    look("closed-sv")


# --- "Menade du …?" at the stand --------------------------------------------------------


def test_the_tablets_script_suggests_exactly_what_the_server_does(stand, tablet):
    """The script's rule, with the lists the sign screen carries, gives the server's
    answer for every address of the server's own table."""
    server = stand()
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)
    page.get_by_role("link", name="Svenska", exact=True).click()
    page.wait_for_function("() => window.KioskEmailTypos !== undefined")
    table = [*TYPOS, *((address, None) for address in NOT_TYPOS)]
    answers = page.evaluate(
        """(addresses) => {
          const data = document.querySelector('#email').dataset;
          const rule = {
            providers: data.suggestProviders.split(' '),
            lookalikes: data.suggestLookalikes.split(' '),
            nameEditsFrom: Number(data.suggestNameEditsFrom),
          };
          return addresses.map((a) => KioskEmailTypos.suggestion(a, rule));
        }""",
        [address for address, _ in table],
    )
    assert dict(zip([a for a, _ in table], answers, strict=True)) == dict(table)


def test_an_arabic_signer_offline_is_asked_about_a_typo_and_takes_the_suggestion(
    stand, tablet, artifacts
):
    """Offline, the script asks before it queues: the question over the form in Arabic,
    focused, the address left to right; her tap on the suggestion queues amira@gmail.com,
    which arrives when the network returns.  The next signer keeps his typed address by
    pressing Skriv under again."""
    server = stand(texts=AMIRALSGATAN_SV_AR)
    page = tablet.new_page()
    volunteer_enrols_tablet(page, server, organiser_creates_kiosk(server))
    tablet_is_ready(page)

    tablet.set_offline(True)
    resident_signs_at_stand(page, "Amira Hassan", "amira@gmial.com", "العربية")
    box = page.locator(".suggestion")
    expect(box).to_be_visible()
    expect(box).to_be_focused()
    question = translated("ar", "Menade du %(address)s?")
    assert page.locator("#email-suggestion").inner_text() == question % {
        "address": "amira@gmail.com"
    }
    ltr = page.locator("#email-suggestion span[dir=ltr]")
    assert ltr.inner_text() == "amira@gmail.com"
    assert page.locator("#email").get_attribute("aria-describedby") == "email-hint email-suggestion"
    assert page.locator("#email").input_value() == "amira@gmial.com"  # kept as typed
    take = page.locator("[data-suggestion-take]").bounding_box()
    assert take["height"] >= 44 and take["width"] >= 44, take
    page.screenshot(path=str(artifacts / "kiosk-suggestion-ar-offline.png"))
    no_axe_violations(page)

    page.locator("[data-suggestion-take]").click()
    page.wait_for_url(re.compile(r"/kiosk/saved/ar"))
    page.get_by_role("heading", name="Välj språk för att skriva under").wait_for()
    assert "gmial" not in everything_on_screen(page) and "gmail" not in everything_on_screen(page)
    tablet.set_offline(False)
    queue_drains(page)

    resident_signs_at_stand(page, "Hodan Ali", "hodan@hotmail.con")
    expect(page.locator(".suggestion")).to_be_visible()
    page.locator("button.kiosk-submit").click()
    page.wait_for_url(re.compile(r"/kiosk/thanks/sv"))
    # Enter (the tablet keyboard's Go) keeps the address as typed too: it presses the
    # form's first submit button, which must not be the suggestion's.
    page.get_by_role("link", name="Klar").click()
    resident_signs_at_stand(page, "Omar Said", "omar@hotmial.com")
    expect(page.locator(".suggestion")).to_be_visible()
    page.locator("#postcode").press("Enter")
    page.wait_for_url(re.compile(r"/kiosk/thanks/sv"))

    with server.app.app_context():
        from initiatives.crypto import crypto

        box_ = crypto()
        emails = sorted(box_.decrypt(row.email_enc) for row in kiosk_signatures(server))
    assert emails == ["amira@gmail.com", "hodan@hotmail.con", "omar@hotmial.com"]
