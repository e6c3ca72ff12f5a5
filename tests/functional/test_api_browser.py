"""A partner's website shows the live counter: Chromium on a page of another origin reads
the public JSON, and gets nothing else of ours, and never with the visitor's cookies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ..conftest import create_initiative, free_port
from ..privacy_support import Spec, add_signatures

PARTNER_PAGE = """<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Grannskapsnätverket</title></head>
<body><p>Underskrifter hittills: <span id="count">-</span></p></body></html>
""".encode()
READ = """async (url) => {
  const response = await fetch(url);
  const data = await response.json();
  document.querySelector('#count').textContent = data.confirmed ?? data.error;
  return [response.status, data];
}"""
# What a page elsewhere may not do: read our pages, or send the visitor's cookies along.
REFUSED = """async ([url, options]) => {
  try { await (await fetch(url, options)).text(); return 'read'; }
  catch (error) { return error.name; }
}"""


class _Partner(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(PARTNER_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def partner() -> Iterator[str]:
    """The partner's site: another origin (``localhost``, another port) on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Partner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_partner_page_shows_the_live_count_and_reads_nothing_else(
    live_server, page, partner, artifacts
):
    create_initiative(live_server.app)
    add_signatures(live_server.app, "amiralsgatan", [Spec(f"p{i}@example.org") for i in range(3)])
    # The visitor has been on our site: she has our session cookie.
    page.goto(f"{live_server.url}/i/amiralsgatan")
    assert page.context.cookies(live_server.url)

    page.goto(partner)
    api = f"{live_server.url}/api/initiatives/amiralsgatan"
    status, data = page.evaluate(READ, api)
    assert status == 200 and data["confirmed"] == 3 and data["slug"] == "amiralsgatan"
    assert page.locator("#count").text_content() == "3"
    page.screenshot(path=str(artifacts / "partner-page-live-count.png"))
    # An unknown initiative is a readable 404, not a network error.
    status, data = page.evaluate(READ, f"{live_server.url}/api/initiatives/nope")
    assert status == 404 and data["error"] == 404

    assert page.evaluate(REFUSED, [f"{live_server.url}/i/amiralsgatan", {}]) == "TypeError"
    with_cookies = {"credentials": "include"}
    assert page.evaluate(REFUSED, [api, with_cookies]) == "TypeError"
