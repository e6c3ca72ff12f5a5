"""The audit log: who changed what, and when.  Never signers' personal data."""

from __future__ import annotations

from typing import Any

from .extensions import db
from .models import AuditEvent, Initiative, Signature


def record(
    action: str,
    *,
    actor: str,
    initiative: Initiative | None = None,
    signature: Signature | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits)."""
    event = AuditEvent(
        actor=actor,
        action=action,
        initiative_id=initiative.id if initiative is not None else None,
        signature_id=signature.id if signature is not None else None,
        details=details,
    )
    db.session.add(event)
    return event
