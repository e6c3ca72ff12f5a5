"""Helpers for the data-protection tests: signatures made through the domain functions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from initiatives import clock, signature_states, signatures
from initiatives.extensions import db
from initiatives.models import Channel, Initiative, Signature, SignatureState

# Client hashes (a keyed hash of the IP address and the day): a bot's, and people's.
BOT = "b0" * 32
PERSON = "a1" * 32


@dataclass
class Spec:
    email: str
    name: str = "Amira Hassan"
    state: SignatureState = SignatureState.CONFIRMED
    channel: Channel = Channel.WEB
    source_tag: str | None = None
    postcode: str | None = "212 14"
    client_hash: str | None = None


def add_signatures(app: Flask, slug: str, specs: list[Spec]) -> list[int]:
    """Sign (and confirm or withdraw) as the specs say; returns the signature ids."""
    ids = []
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative).where(Initiative.slug == slug)).one()
        for spec in specs:
            result = signatures.sign(
                initiative,
                name=spec.name,
                email=spec.email,
                postcode=spec.postcode,
                locale="sv",
                channel=spec.channel,
                source_tag=spec.source_tag,
                client_hash=spec.client_hash,
            )
            signature = result.signature
            if spec.state in (SignatureState.CONFIRMED, SignatureState.WITHDRAWN):
                signature_states.confirm(signature)
            if spec.state == SignatureState.WITHDRAWN:
                signature_states.withdraw(signature)
            ids.append(signature.id)
        db.session.commit()
    return ids


def spread(app: Flask, ids: list[int], minutes: int) -> None:
    """Put these signatures ``minutes`` apart, starting an hour ago."""
    start = clock.utcnow() - timedelta(hours=1)
    with app.app_context():
        for i, signature_id in enumerate(ids):
            db.session.execute(
                sa.update(Signature)
                .where(Signature.id == signature_id)
                .values(created_at=start + timedelta(minutes=i * minutes))
            )
        db.session.commit()


def set_initiative(app: Flask, slug: str, **values: object) -> None:
    with app.app_context():
        db.session.execute(sa.update(Initiative).where(Initiative.slug == slug).values(**values))
        db.session.commit()


def count_is_exact(app: Flask, slug: str) -> int:
    """Asserts the cached count equals COUNT(*) of confirmed rows, and returns it."""
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative).where(Initiative.slug == slug)).one()
        assert initiative.confirmed_count == signature_states.confirmed_count(initiative.id)
        return initiative.confirmed_count


def aggregates(app: Flask, slug: str) -> Counter[tuple[object, ...]]:
    """Signatures per (state, channel, tag, postcode area, signing day, confirming day)."""

    def day(value: datetime | None) -> str | None:
        return value.date().isoformat() if value is not None else None

    with app.app_context():
        rows = db.session.scalars(
            sa.select(Signature).join(Initiative).where(Initiative.slug == slug)
        ).all()
        return Counter(
            (
                r.state,
                r.channel,
                r.source_tag,
                r.postcode_area,
                day(r.created_at),
                day(r.confirmed_at),
                r.text_hash,
            )
            for r in rows
        )


def signature_rows(app: Flask) -> list[Signature]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Signature).order_by(Signature.id)))
        for row in rows:
            db.session.expunge(row)
        return rows
