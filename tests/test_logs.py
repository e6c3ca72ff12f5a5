"""Logs of a full sign-and-confirm flow hold no name, email, token or client address."""

from __future__ import annotations

import logging
import re
import threading
from http.cookiejar import CookieJar
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import pytest
from werkzeug.serving import make_server

from initiatives import outbox
from initiatives.logs import redact, redact_address, redact_query
from initiatives.mail import compose

from .admin_helpers import PASSWORD, create_admin
from .conftest import free_port, link_path, links_in
from .privacy_support import Spec, add_signatures

NAME = "Amira Hassan"
EMAIL = "amira.hassan@example.org"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# The loopback SMTP server used by the tests logs envelopes; it is not part of the app.
FOREIGN_LOGGERS = ("mail.log", "asyncio")


class Browser:
    """A tiny browser over real HTTP: cookies, forms with their CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post_form(self, page: str, action: str, **fields: str) -> int:
        token = CSRF_RE.search(self.get(page)).group(1)
        body = urlencode({"csrf_token": token, **fields}).encode()
        try:
            with self.opener.open(self.base + action, data=body, timeout=10) as response:
                return response.status
        except HTTPError as exc:
            return exc.code


@pytest.fixture
def served(app):
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_a_full_sign_and_confirm_flow_logs_no_personal_data_or_token(
    app, make_initiative, served, smtp, caplog
):
    make_initiative()
    caplog.set_level(logging.DEBUG)
    browser = Browser(served)

    def deliver() -> None:
        with app.app_context():
            outbox.deliver_due(app, compose)

    page = "/i/amiralsgatan"
    form = {"name": NAME, "email": EMAIL, "postcode": "212 14", "resident": "y", "consent": "y"}
    assert browser.post_form(page, "/i/amiralsgatan/sign", **form) == 200  # after the 303
    # A bad attempt is logged too (the form comes back with errors).
    assert browser.post_form(page, "/i/amiralsgatan/sign", **{**form, "consent": ""}) == 400
    deliver()
    [mail] = smtp.wait_for(1)
    confirm = link_path(next(u for u in links_in(mail) if "/confirm/" in u))
    assert browser.post_form(confirm, confirm) == 200
    deliver()
    thanks = smtp.wait_for(2)[1]
    withdraw = link_path(next(u for u in links_in(thanks) if "/withdraw/" in u))
    browser.get(withdraw)
    assert browser.post_form("/privacy/request", "/privacy/request", email=EMAIL) == 200
    deliver()
    smtp.wait_for(3)

    records = [r for r in caplog.records if not r.name.startswith(FOREIGN_LOGGERS)]
    formatter = logging.Formatter("%(name)s %(message)s")
    text = "\n".join(formatter.format(r) for r in records)  # exceptions included
    # The test sees the access log at all (so the checks below can fail).
    access = [r.getMessage() for r in records if r.name == "werkzeug"]
    assert len(access) >= 8, text
    assert any("/confirm/[redacted]" in line for line in access)
    assert any("/withdraw/[redacted]" in line for line in access)
    assert all(line.startswith("[client]") for line in access if "HTTP/1.1" in line), access

    tokens = [confirm.rsplit("/", 1)[1], withdraw.rsplit("/", 1)[1]]
    for secret in [NAME, "Hassan", EMAIL, "amira.hassan", "212 14", *tokens, "127.0.0.1"]:
        assert secret not in text, f"{secret!r} found in the logs"


def test_an_organisers_search_leaves_no_name_or_address_in_the_logs(
    app, make_initiative, served, caplog
):
    """A search by name or address is a GET (``?q=``): its value never reaches the log."""
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec(EMAIL, NAME)])
    create_admin(app, "nadia@example.org", role="organiser")
    caplog.set_level(logging.INFO)
    base = "/admin/initiatives/amiralsgatan/signatures"
    # Before logging in: the login page keeps the search in its ?next=.
    assert NAME not in Browser(served).get(f"{base}?q=Amira+Hassan&state=confirmed")
    browser = Browser(served)
    login = browser.post_form(
        "/admin/login", "/admin/login", email="nadia@example.org", password=PASSWORD
    )
    assert login == 200
    assert NAME in browser.get(f"{base}?q=amira.hassan%40example.org")
    assert NAME in browser.get(f"{base}?q=Amira+Hassan&state=confirmed")

    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    searches = [line for line in access if "/signatures?" in line]
    assert len(searches) == 3, access
    assert all("q=[redacted]" in line for line in searches), searches
    assert any("?next=[redacted]" in line for line in access), access
    assert "state=confirmed" in searches[-1]  # a filter that says nothing about a person
    for secret in ("amira.hassan", "Amira", "Hassan"):
        assert not any(secret in line for line in access), access


def test_redaction_helpers():
    assert redact("GET /confirm/abc.def-ghi HTTP/1.1") == "GET /confirm/[redacted] HTTP/1.1"
    assert redact("/withdraw/xyz?x=1") == "/withdraw/[redacted]?x=1"
    assert redact_address('203.0.113.9 - - [27/Nov/2026 10:00:00] "GET /"') == (
        '[client] - - [27/Nov/2026 10:00:00] "GET /"'
    )
    assert redact_address("2001:db8::1 - - [x]").startswith("[client] ")
    assert redact_address("outbox delivery failed: 12:00:01") == (
        "outbox delivery failed: 12:00:01"
    )
    # gunicorn's access line also carries the Referer: the search page's full URL.
    line = (
        '"GET /admin/initiatives/a/signatures/7 HTTP/1.1" 200 812 '
        '"https://initiativ.example.org/admin/initiatives/a/signatures?q=Amira+Hassan&state='
        'confirmed&channel=web" "Mozilla/5.0"'
    )
    assert redact_query(line) == (
        '"GET /admin/initiatives/a/signatures/7 HTTP/1.1" 200 812 '
        '"https://initiativ.example.org/admin/initiatives/a/signatures?q=[redacted]&state='
        'confirmed&channel=web" "Mozilla/5.0"'
    )
    assert redact_query("GET /i/amiralsgatan?src=affisch HTTP/1.1") == (
        "GET /i/amiralsgatan?src=affisch HTTP/1.1"
    )
    assert redact_query("GET /a?%61mira%40example.org HTTP/1.1") == "GET /a?[redacted] HTTP/1.1"
    assert redact_query("GET /a?review=1&domain=example.org") == (
        "GET /a?review=[redacted]&domain=[redacted]"
    )
    assert redact_query("Is it down? Try again.") == "Is it down? Try again."


def test_every_module_logger_redacts_tokens_and_query_values(caplog):
    """A filter on the ``initiatives`` logger never sees what its children log, so each
    module's logger carries its own: a token or a searched name in a URL that the outbox,
    the send limit or an error page logs is replaced like any other."""
    import importlib
    import pkgutil

    import initiatives

    loggers = []
    for module_info in pkgutil.walk_packages(initiatives.__path__, "initiatives."):
        module = importlib.import_module(module_info.name)
        loggers += [v for v in vars(module).values() if isinstance(v, logging.Logger)]
    names = {logger.name for logger in loggers}
    assert {"initiatives.outbox", "initiatives.errors", "initiatives.sendlimit"} <= names
    caplog.set_level(logging.DEBUG)
    for logger in loggers:
        logger.warning("see https://x.example/confirm/abc.def-ghi?q=Amira+Hassan&lang=ar")
    messages = [r.getMessage() for r in caplog.records if r.name in names]
    assert len(messages) == len(loggers)
    for message in messages:
        assert message == "see https://x.example/confirm/[redacted]?q=[redacted]&lang=ar"
