"""Helpers for the admin tests: accounts, logging in, posting admin forms."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from initiatives import accounts
from initiatives.extensions import db

from .conftest import CSRF_RE, csrf_token

SEEN_RE = re.compile(r'name="seen" type="hidden" value="([0-9a-f]{64})"')
OPENED_AS_RE = re.compile(r'name="opened_as" type="hidden" value="([a-z]+)"')

PASSWORD = "korrekt häst batteri häftklammer"


def create_admin(
    app: Flask, email: str = "samira@example.org", *, role: str = "admin", password: str = PASSWORD
) -> int:
    with app.app_context():
        user = accounts.create_account(email, password, role=role, name=email.split("@")[0])
        db.session.commit()
        return user.id


def login(
    client: FlaskClient, email: str = "samira@example.org", password: str = PASSWORD, **kw: Any
) -> Any:
    token = csrf_token(client, "/admin/login")
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}, **kw
    )


def logged_in(app: Flask, role: str = "admin", email: str | None = None) -> FlaskClient:
    """A new client logged in with a new account of ``role``."""
    email = email or f"{role}@example.org"
    create_admin(app, email, role=role)
    client = app.test_client()
    response = login(client, email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post_form(client: FlaskClient, page: str, action: str, **data: Any) -> Any:
    """Load ``page`` for its CSRF token, then post ``data`` to ``action``."""
    data["csrf_token"] = csrf_token(client, page)
    return client.post(action, data=data)


def opened(client: FlaskClient, page: str) -> dict[str, str]:
    """The hidden fields of the first form on ``page`` as it showed them: the CSRF token,
    the version of what the page showed (``seen``) and, on a text page, which form it
    showed (``opened_as``), as a browser would send them back however long after."""
    html = client.get(page).get_data(as_text=True)
    token, seen = CSRF_RE.search(html), SEEN_RE.search(html)
    assert token and seen, f"no CSRF token or version on {page}"
    fields = {"csrf_token": token.group(1), "seen": seen.group(1)}
    if opened_as := OPENED_AS_RE.search(html):
        fields["opened_as"] = opened_as.group(1)
    return fields


def post_text(client: FlaskClient, page: str, **data: Any) -> Any:
    """Open a text page (or any page whose form carries ``seen``) and send its form."""
    return client.post(page, data=opened(client, page) | data)


FORM_RE = re.compile(r'<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>', re.S)
HIDDEN_RE = re.compile(r'<input name="([^"]+)" type="hidden" value="([^"]*)"')


def form_as_shown(client: FlaskClient, page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form on ``page`` that posts to ``action``, as the page
    showed them (its CSRF token and, on the paper review page, ``seen``): what a browser
    sends back however long after."""
    html = client.get(page).get_data(as_text=True)
    for target, body in FORM_RE.findall(html):
        if target == action:
            return dict(HIDDEN_RE.findall(body))
    raise AssertionError(f"no form to {action} on {page}")


def decide(client: FlaskClient, page: str, action: str, **data: Any) -> Any:
    """Open ``page`` and send its form to ``action`` at once, with ``data``."""
    return client.post(action, data=form_as_shown(client, page, action) | data)
