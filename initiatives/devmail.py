"""Development only: the mailbox of mails written to instance/mail/ (no SMTP needed).

Registered only when APP_ENV=development, so it can never exist in production.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")

NAME_RE = re.compile(r"^[0-9T]+-\d+\.eml$")
URL_RE = re.compile(r"https?://[^\s<>\"]+")


def _directory() -> Path:
    return Path(current_app.instance_path) / "mail"


def _read(path: Path) -> email.message.EmailMessage:
    with path.open("rb") as fh:
        return email.message_from_binary_file(fh, policy=email.policy.default)  # type: ignore[return-value]


@bp.get("/")
def index() -> str:
    directory = _directory()
    files = sorted(directory.glob("*.eml"), reverse=True)[:200] if directory.exists() else []
    mails = []
    for path in files:
        message = _read(path)
        mails.append(
            {
                "name": path.name,
                "subject": message["Subject"],
                "to": message["To"],
                "date": message["Date"],
            }
        )
    return render_template("devmail/index.html", mails=mails)


@bp.get("/<name>")
def show(name: str) -> str:
    if not NAME_RE.match(name):
        abort(404)
    path = _directory() / name
    if not path.is_file():
        abort(404)
    message = _read(path)
    part = message.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    return render_template(
        "devmail/message.html", message=message, body=body, links=URL_RE.findall(body)
    )
