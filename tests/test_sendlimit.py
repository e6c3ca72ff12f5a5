"""The outbox keeps under the mail provider's sending limit (OUTBOX_SEND_LIMIT).

Mail past the limit waits in the queue with its attempts untouched; the limit is one
budget for every worker when it is kept in Redis; a worker that loses Redis still keeps
the limit, counting on its own.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import limits.storage.memory
import pytest
import sqlalchemy as sa

from initiatives import clock, outbox, sendlimit
from initiatives.config import ConfigError
from initiatives.extensions import db
from initiatives.mail import compose
from initiatives.models import OutboxMessage, OutboxStatus

from .admin_helpers import logged_in
from .conftest import REDIS_URL, free_port


def queue_mails(sign, app, count: int) -> None:
    browser = app.test_client()
    for number in range(count):
        assert sign(who=browser, email=f"signer{number}@example.org").status_code == 303


def statuses(app) -> list[tuple[str, int]]:
    with app.app_context():
        query = sa.select(OutboxMessage.status, OutboxMessage.attempts).order_by(OutboxMessage.id)
        return [(status, attempts) for status, attempts in db.session.execute(query)]


def deliver(app) -> outbox.Report:
    with app.app_context():
        return outbox.deliver_due(app, compose)


class WindowClock:
    """The time the in-memory limit reads, moved by the test instead of sleeping.

    The limits library's memory storage reads ``time.time()``; on a busy machine a real
    two-second window would move on while the test is still sending.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.now = 1_900_000_000.0
        fake = SimpleNamespace(time=lambda: self.now, monotonic=time.monotonic)
        monkeypatch.setattr(limits.storage.memory, "time", fake)
        monkeypatch.setattr(sendlimit, "time", fake)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_mail_past_the_limit_waits_with_its_attempts_and_goes_out_as_the_window_moves(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    window = WindowClock(monkeypatch)
    app = make_app(OUTBOX_SEND_LIMIT="3 per 10 seconds")
    make_initiative()
    queue_mails(sign, app, 7)

    first = deliver(app)
    # The batch is cut to the room the limit leaves; the next finds none and stops.
    assert (first.sent, first.held, first.retried, first.failed) == (3, 0, 0, 0)
    assert first.limited_by == "3 per 10 seconds"  # as configured
    assert len(smtp.wait_for(3)) == 3
    rows = statuses(app)
    assert rows.count((OutboxStatus.SENT.value, 0)) == 3
    # The others wait as they were: no attempt spent, due now (not leased for minutes).
    assert rows.count((OutboxStatus.PENDING.value, 0)) == 4
    with app.app_context():
        waiting_until = db.session.scalar(
            sa.select(sa.func.max(OutboxMessage.due_at)).where(
                OutboxMessage.status == OutboxStatus.PENDING
            )
        )
        assert waiting_until <= clock.utcnow()
        room = sendlimit.for_app(app).headroom()
    assert (room.mails, room.free_in) == (0, 10.0)

    # Within the window nothing more goes out, and nothing is claimed for nothing.
    window.advance(9.5)
    again = deliver(app)
    assert (again.sent, again.held, again.handled) == (0, 0, 0)
    assert again.limited_by == "3 per 10 seconds"

    window.advance(1)
    assert deliver(app).sent == 3
    window.advance(10.5)
    last = deliver(app)
    assert (last.sent, last.limited_by) == (1, None)  # nothing left waiting for the limit
    assert sorted(str(m["To"]) for m in smtp.wait_for(7)) == sorted(
        f"signer{n}@example.org" for n in range(7)
    )
    assert statuses(app) == [(OutboxStatus.SENT.value, 0)] * 7


def test_without_a_limit_everything_due_goes_out(app, make_initiative, sign, smtp):
    make_initiative()
    queue_mails(sign, app, 4)
    report = deliver(app)
    assert (report.sent, report.held, report.limited_by) == (4, 0, None)


def test_the_tightest_of_several_limits_decides(make_app, make_initiative, sign, smtp):
    app = make_app(OUTBOX_SEND_LIMIT="100 per minute;2 per hour")
    make_initiative()
    queue_mails(sign, app, 3)
    report = deliver(app)
    assert (report.sent, report.held) == (2, 0)  # the batch was cut to what the hour allows
    with app.app_context():
        room = sendlimit.for_app(app).headroom()
    assert room.mails == 0 and room.limit == "2 per 1 hour" and 3500 < room.free_in <= 3600


def test_when_several_windows_are_full_mail_waits_for_the_last_to_free_a_place(
    make_app, make_initiative, sign, smtp
):
    app = make_app(OUTBOX_SEND_LIMIT="2 per minute;2 per hour")
    make_initiative()
    queue_mails(sign, app, 3)
    assert deliver(app).sent == 2
    with app.app_context():
        room = sendlimit.for_app(app).headroom()
    assert room.mails == 0 and room.limit == "2 per 1 hour" and 3500 < room.free_in <= 3600


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_workers_share_one_budget_in_redis(make_app, make_initiative, sign, smtp, redis_prefix):
    """Two workers (two apps, as two processes would be) sending at once stay within it.

    On PostgreSQL only: that is where several workers may run (SKIP LOCKED).
    """
    store, prefix = redis_prefix
    config = {
        "OUTBOX_SEND_LIMIT": "9 per minute",
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "OUTBOX_BATCH_SIZE": 4,
    }
    first, second = make_app(**config), make_app(**config)
    make_initiative()
    queue_mails(sign, first, 30)

    barrier = threading.Barrier(2)
    reports: list[outbox.Report] = []

    def work(app) -> None:
        barrier.wait()
        reports.append(deliver(app))

    threads = [threading.Thread(target=work, args=(a,)) for a in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.sent for r in reports) == 9
    assert len(smtp.wait_for(9)) == 9
    time.sleep(0.3)
    assert len(smtp.messages) == 9, "the two workers together went past the limit"
    rows = statuses(first)
    assert rows.count((OutboxStatus.SENT.value, 0)) == 9
    assert rows.count((OutboxStatus.PENDING.value, 0)) == 21
    # The count is in Redis, under the deployment's prefix, and holds no address.
    keys = [key.decode() for key in store.scan_iter(match=f"*{prefix}*")]
    assert keys and all("outbox-send" in key and "@" not in key for key in keys)


def test_a_worker_that_loses_redis_still_keeps_the_limit(
    make_app, make_initiative, sign, smtp, caplog
):
    app = make_app(OUTBOX_SEND_LIMIT="2 per minute", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    make_initiative()
    queue_mails(sign, app, 5)
    report = deliver(app)
    assert report.sent == 2 and report.failed == 0 and report.retried == 0
    assert "counting in this worker's memory" in caplog.text
    assert deliver(app).sent == 0
    assert statuses(app).count((OutboxStatus.PENDING.value, 0)) == 3


@pytest.mark.parametrize(
    "setting",
    [
        {"OUTBOX_SEND_LIMIT": "30 a minute"},
        {"OUTBOX_SEND_LIMIT": "ten per minute"},
        {"OUTBOX_SEND_LIMIT": "30 per minute;"},
        {"SIGN_RATE_LIMIT": "20 per minut"},
        {"SIGN_RATE_LIMIT": ""},
    ],
)
def test_a_limit_that_does_not_parse_stops_the_app_at_start(make_app, setting):
    # Not at the first request that needs it, nor by quietly limiting nothing.
    [key] = setting
    with pytest.raises(ConfigError, match=key):
        make_app(**setting)


def test_outbox_send_status_and_admin_say_when_the_limit_holds_mail(
    make_app, make_initiative, sign, smtp, monkeypatch, redis_prefix
):
    # With Redis, where `outbox status` and the admin see the workers' count.
    _store, prefix = redis_prefix
    app = make_app(OUTBOX_SEND_LIMIT="1 per hour", REDIS_URL=REDIS_URL, RATELIMIT_KEY_PREFIX=prefix)
    make_initiative()
    queue_mails(sign, app, 3)
    runner = app.test_cli_runner()
    sent = runner.invoke(args=["outbox", "send"])
    assert sent.exit_code == 0, sent.output
    assert "sent 1," in sent.output
    assert "the rest waits for the send limit (OUTBOX_SEND_LIMIT: 1 per hour)" in sent.output

    status = runner.invoke(args=["outbox", "status"])
    assert "send limit 1 per hour: room for 0 now, the next in" in status.output
    assert status.exit_code == 0, status.output  # nothing has waited long yet

    later = clock.utcnow() + timedelta(minutes=20)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    behind = runner.invoke(args=["outbox", "status"])
    assert behind.exit_code == 1
    assert "BEHIND: mail has waited 20 min" in behind.output
    assert "the send limit (OUTBOX_SEND_LIMIT) is full" in behind.output
    # The organisers read why on the admin start page.
    page = logged_in(app).get("/admin/").get_data(as_text=True)
    assert "E-posten ligger efter: 2 mejl väntar, det äldsta i 20 minuter" in page
    assert "inte fler mejl än e-postleverantören tillåter" in page


def test_without_redis_status_says_the_count_is_the_workers_own(make_app):
    app = make_app(OUTBOX_SEND_LIMIT="30 per minute")
    result = app.test_cli_runner().invoke(args=["outbox", "status"])
    assert result.exit_code == 0, result.output
    assert "send limit 30 per minute: each worker counts in its own memory" in result.output
    assert "room for" not in result.output
