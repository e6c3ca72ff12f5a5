"""The organisers' dashboard figures (``stats.dashboard``): every count against a known
mix of signatures, and the per-day series on Malmö's calendar, across midnight and the
switch to and from summer time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from initiatives import clock, stats
from initiatives.extensions import db
from initiatives.models import Channel, Initiative, Signature, SignatureState

from .privacy_support import Spec, add_signatures

CONFIRMED, PENDING, WITHDRAWN = (
    SignatureState.CONFIRMED,
    SignatureState.PENDING,
    SignatureState.WITHDRAWN,
)
WEB, KIOSK, PAPER = Channel.WEB, Channel.KIOSK, Channel.PAPER


def _dashboard(app) -> stats.Dashboard:
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        return stats.dashboard(initiative)


def test_every_count_of_the_dashboard(app, make_initiative):
    make_initiative(campaign_tags=["poster", "flyer", "unused"])
    specs = [
        Spec("a@example.org", state=CONFIRMED, channel=WEB, source_tag="poster"),
        Spec("b@example.org", state=CONFIRMED, channel=WEB, source_tag="poster", postcode=None),
        Spec("c@example.org", state=PENDING, channel=WEB, source_tag="poster"),
        Spec("d@example.org", state=CONFIRMED, channel=WEB, source_tag="flyer", postcode="213 63"),
        Spec("e@example.org", state=WITHDRAWN, channel=WEB, source_tag="flyer"),
        Spec("f@example.org", state=CONFIRMED, channel=KIOSK, postcode="213 63"),
        Spec("g@example.org", state=CONFIRMED, channel=KIOSK),
        Spec("h@example.org", state=PENDING, channel=WEB),
    ]
    add_signatures(app, "amiralsgatan", specs)
    numbers = _dashboard(app)

    assert numbers.confirmed == 5
    assert numbers.by_state[CONFIRMED] == 5
    assert numbers.by_state[PENDING] == 2
    assert numbers.by_state[WITHDRAWN] == 1
    assert sum(numbers.by_state.values()) == len(specs)
    assert numbers.by_channel[WEB][CONFIRMED] == 3
    assert numbers.by_channel[WEB][PENDING] == 2
    assert numbers.by_channel[WEB][WITHDRAWN] == 1
    assert numbers.by_channel[KIOSK][CONFIRMED] == 2
    assert sum(numbers.by_channel[PAPER].values()) == 0
    # (tag, channel, confirmed, all): most confirmed first; an unused tag still has its
    # row; without a tag, the stand's tablet is its own row, not "no source" on the web.
    assert numbers.by_source == [
        ("", "kiosk", 2, 2),
        ("poster", None, 2, 3),
        ("flyer", None, 1, 2),
        ("", "web", 0, 1),
        ("unused", None, 0, 0),
    ]
    # (postcode area, confirmed per channel, confirmed): most first.
    assert numbers.by_area == [
        ("212", {"web": 1, "kiosk": 1, "paper": 0}, 2),
        ("213", {"web": 1, "kiosk": 1, "paper": 0}, 2),
        ("", {"web": 1, "kiosk": 0, "paper": 0}, 1),
    ]


def test_days_are_malmo_calendar_days_across_midnight_and_summer_time(
    app, make_initiative, monkeypatch
):
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "utcnow", lambda: now)
    make_initiative(opens_days_ago=260, closes_in_days=30)
    # When each was confirmed (UTC), and the Malmö day it belongs to.
    moments = {
        datetime(2026, 3, 28, 22, 59, tzinfo=UTC): date(2026, 3, 28),  # 23:59 CET
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC): date(2026, 3, 29),  # 00:00 CET
        datetime(2026, 3, 29, 21, 59, tzinfo=UTC): date(2026, 3, 29),  # 23:59 CEST, DST day
        datetime(2026, 3, 29, 22, 0, tzinfo=UTC): date(2026, 3, 30),  # 00:00 CEST
        datetime(2026, 10, 24, 22, 30, tzinfo=UTC): date(2026, 10, 25),  # 00:30 CEST
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC): date(2026, 10, 25),  # 02:30 CEST
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC): date(2026, 10, 25),  # 02:30 CET, again
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC): date(2026, 10, 26),  # 00:00 CET
        datetime(2026, 11, 27, 11, 0, tzinfo=UTC): date(2026, 11, 27),  # today
    }
    specs = [Spec(f"p{i}@example.org") for i in range(len(moments) + 1)]
    ids = add_signatures(app, "amiralsgatan", specs)
    with app.app_context():
        for signature_id, moment in zip(ids, moments, strict=False):
            db.session.execute(
                sa.update(Signature).where(Signature.id == signature_id).values(confirmed_at=moment)
            )
        # The last one is pending again: it has no day.
        db.session.execute(
            sa.update(Signature)
            .where(Signature.id == ids[-1])
            .values(state=PENDING, confirmed_at=None)
        )
        db.session.commit()
    per_day = dict(_dashboard(app).per_day)

    days = list(per_day)
    assert days[0] == date(2026, 3, 12)  # the opening day, 260 days before "now" (Malmö)
    assert days[-1] == date(2026, 11, 27)  # today
    assert len(days) == (days[-1] - days[0]).days + 1  # every day, none twice
    expected = {
        date(2026, 3, 28): 1,
        date(2026, 3, 29): 2,
        date(2026, 3, 30): 1,
        date(2026, 10, 25): 3,
        date(2026, 10, 26): 1,
        date(2026, 11, 27): 1,
    }
    assert {day: n for day, n in per_day.items() if n} == expected
    assert sum(per_day.values()) == len(moments)
