"""What one simulated visitor does, once per loop: the flows the benchmark measures.

Each flow raises ``FlowError`` when the site does not answer as it should; the runner
counts that as an error and carries on with a fresh browser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .client import Browser, FlowError

SLUG = "amiralsgatan"


@dataclass
class FlowState:
    """What a client process knows: who it is, and the confirmation tokens it may use."""

    client: int
    run_id: str
    tokens: Iterator[str] = field(default_factory=lambda: iter(()))
    counter: int = 0

    def next_email(self) -> str:
        self.counter += 1
        return f"bench-{self.run_id}-{self.client}-{self.counter}@example.org"


class OutOfWork(Exception):
    """No more confirmation tokens for this client: it stops early."""


def hello(browser: Browser, state: FlowState) -> None:
    browser.get("hello", "/hello")


def page(browser: Browser, state: FlowState) -> None:
    """A reader (re)loads the initiative page."""
    browser.get("page", f"/i/{SLUG}")


def count(browser: Browser, state: FlowState) -> None:
    """The counter widget polls the JSON count."""
    browser.get("count", f"/api/initiatives/{SLUG}")


def sign(browser: Browser, state: FlowState) -> None:
    """Load the page, fill in the form with a new address, submit, follow the redirect."""
    token = browser.get("page", f"/i/{SLUG}").csrf_token()
    form = {
        "csrf_token": token,
        "name": f"Bänk Testsson {state.client}-{state.counter}",
        "email": state.next_email(),
        "postcode": "212 14",
        "resident": "y",
        "consent": "y",
        "src": "bench",
        "website": "",
    }
    redirect = browser.post("sign", f"/i/{SLUG}/sign", form)
    if not redirect.location().endswith(f"/i/{SLUG}/thanks"):
        raise FlowError(f"sign redirected to {redirect.location()!r}")
    browser.get("thanks", redirect.location())


def confirm(browser: Browser, state: FlowState) -> None:
    """Open the link from the mail, press the button, see the confirmation."""
    token = next(state.tokens, None)
    if token is None:
        raise OutOfWork()
    path = f"/confirm/{token}"
    csrf = browser.get("confirm_page", path).csrf_token()
    redirect = browser.post("confirm", path, {"csrf_token": csrf})
    done = browser.get("confirmed_page", redirect.location())
    if b"panel-success" not in done.body:
        raise FlowError("the page after confirming does not say the signature counts")


FLOWS: dict[str, Callable[[Browser, FlowState], None]] = {
    "hello": hello,
    "page": page,
    "count": count,
    "sign": sign,
    "confirm": confirm,
}
