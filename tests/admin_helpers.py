"""Helpers for the admin tests: accounts, logging in, posting admin forms."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from initiatives import accounts
from initiatives.extensions import db

from .conftest import csrf_token

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
