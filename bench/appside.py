"""What the driver does through the application itself: tokens and the count check.

The driver builds the same app as the server (same keys, same database) so that it can
issue confirmation tokens with ``tokens.make_token``, exactly as the confirmation mail
would carry them, and read ``COUNT(*)`` of confirmed rows.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.request import urlopen

import sqlalchemy as sa
from flask import Flask

from initiatives import config, create_app, signature_states, signatures
from initiatives.extensions import db
from initiatives.models import Initiative, Signature, SignatureState
from initiatives.tokens import Purpose, make_token

from .client import page_count
from .flows import SLUG


def build_app(env: dict[str, str]) -> Flask:
    settings: dict[str, Any] = config.from_environment(env)
    settings["INSTANCE_PATH"] = env["INSTANCE_PATH"]
    return create_app(settings)


def _initiative(app: Flask) -> Initiative:
    return db.session.scalars(sa.select(Initiative).where(Initiative.slug == SLUG)).one()


def confirmation_tokens(app: Flask, wanted: int, run_id: str) -> list[str]:
    """Tokens for ``wanted`` pending signatures, signing more directly if there are fewer."""
    with app.app_context():
        initiative = _initiative(app)
        pending = list(
            db.session.scalars(
                sa.select(Signature.public_id).where(
                    Signature.initiative_id == initiative.id,
                    Signature.state == SignatureState.PENDING,
                )
            )
        )
        extra = 0
        while len(pending) < wanted:
            result = signatures.sign(
                initiative,
                name="Bänk Testsson",
                email=f"bench-topup-{run_id}-{extra}@example.org",
                locale="sv",
            )
            pending.append(result.signature.public_id)
            extra += 1
            if extra % 500 == 0:
                db.session.commit()
        db.session.commit()
        tokens = [make_token(Purpose.CONFIRM, public_id) for public_id in pending[:wanted]]
        db.session.remove()
        db.engine.dispose()
    return tokens


def count_check(app: Flask, port: int, settle: float) -> tuple[bool, str]:
    """Do the JSON count and the page count both equal COUNT(*) of confirmed rows?

    Waits ``settle`` seconds first: readers' counts may be cached that long per worker.
    """
    time.sleep(settle)
    with app.app_context():
        initiative = _initiative(app)
        rows = signature_states.confirmed_count(initiative.id)
        column = initiative.confirmed_count
        db.session.remove()
        db.engine.dispose()
    base = f"http://127.0.0.1:{port}"
    with urlopen(f"{base}/api/initiatives/{SLUG}", timeout=10) as response:  # noqa: S310
        shown_json = json.loads(response.read())["confirmed"]
    with urlopen(f"{base}/i/{SLUG}", timeout=10) as response:  # noqa: S310
        shown_page = page_count(response.read())
    ok = rows == column == shown_json == shown_page
    detail = f"COUNT(*)={rows}, column={column}, JSON={shown_json}, page={shown_page}"
    return ok, detail
