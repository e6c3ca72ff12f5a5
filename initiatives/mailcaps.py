"""Caps on mail that strangers can make us send to an address.

Anyone can type any address into the sign form or the data-request form, so without a
cap the service could be used to flood somebody's inbox.  The outbox keeps a blind
index of each recipient, so the caps are counted without knowing the address, and they
hold across app instances (the count is in the database).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from . import clock, outbox

# Mails that a visitor's form triggers.  Thank-you and withdrawal receipts follow from a
# link in the recipient's own mailbox and are never capped.
UNSOLICITED_KINDS = ("confirm", "already_signed", "data_report")
DAY = timedelta(days=1)


def under_global_cap(email_indexes: list[str]) -> bool:
    """Whether one more unsolicited mail may go to this address today (any initiative)."""
    sent = outbox.mails_since(email_indexes, None, clock.utcnow() - DAY, UNSOLICITED_KINDS)
    return sent < current_app.config["MAILS_PER_ADDRESS_PER_DAY_TOTAL"]


def under_data_request_cap(email_indexes: list[str]) -> bool:
    """Whether another "what do you store about me?" report may go to this address today."""
    sent = outbox.mails_since(email_indexes, None, clock.utcnow() - DAY, ("data_report",))
    return sent < current_app.config["DATA_REQUESTS_PER_ADDRESS_PER_DAY"] and under_global_cap(
        email_indexes
    )
