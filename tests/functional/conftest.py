"""Browser tests: the app served on loopback, driven by Debian's Chromium via Playwright.

``playwright install`` cannot download browsers here, so we launch /usr/bin/chromium
(``CHROMIUM`` overrides).  Locally a missing Chromium skips with the install line; in CI
it fails.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from initiatives import create_app
from initiatives.extensions import db

from ..conftest import _test_config, free_port, skip_or_fail

if TYPE_CHECKING:
    from .site import Site

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


def _buffered(app: Flask) -> Callable[[dict[str, Any], Any], list[bytes]]:
    """The app, each response read whole and closed before the server writes it.

    Werkzeug's development server skips closing a response (a static file, say) when the
    browser drops the connection while it is being written, as Chromium does when it
    leaves a page; the open file then surfaces as a ResourceWarning in some later test.
    Production runs under gunicorn, which closes it.
    """

    def serve(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return serve


class LiveServer:
    """A real HTTP server in a thread, serving one app."""

    def __init__(self, app: Flask):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, _buffered(app), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        """Serve, with the app's links (in mails, QR codes) pointing here."""
        self.app.config["BASE_URL"] = self.url
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        with self.app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(
            f"Chromium not found at {CHROMIUM}: install it with `sudo apt-get install chromium` "
            "(make test does this when run as root)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def live_app(tmp_path: Path, smtp: Any) -> Callable[..., Flask]:
    """Build the app for a live server (SQLite file); keyword arguments override config."""

    def factory(**overrides: Any) -> Flask:
        overrides.setdefault("SMTP_URL", smtp.url)
        app = create_app(
            _test_config(
                f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path / "instance", **overrides
            )
        )
        with app.app_context():
            db.create_all()
        return app

    return factory


@pytest.fixture
def live_server(live_app: Callable[..., Flask]) -> Iterator[LiveServer]:
    app = live_app()
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) and page, phone-sized."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="sv-SE")
    page = context.new_page()
    yield page
    context.close()


# --- the site of the accessibility and language tests ---------------------------------------


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
    server.start()
    yield server
    server.stop()


@pytest.fixture
def open_site(browser: Any, site_server: LiveServer) -> Iterator[Callable[..., Site]]:
    """A fresh browser context in a language, at a viewport size."""
    from .site import Site  # site.py needs LiveServer from here

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
