"""The outbox: mail written with the signature, delivered by a worker, never lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from initiatives import clock, outbox, signatures
from initiatives.extensions import db
from initiatives.mail import compose
from initiatives.models import AuditEvent, OutboxMessage, OutboxStatus, Signature

from .conftest import free_port, links_in


def outbox_rows(app) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_signature_and_its_mail_are_written_together(app, make_initiative, sign):
    make_initiative()
    sign()
    [row] = outbox_rows(app)
    assert row.kind == "confirm" and row.status == "pending"
    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
    assert row.signature_id == signature.id
    # The queued mail holds no readable address or token.
    assert b"amira" not in (row.payload_enc or b"").lower()


def test_smtp_down_keeps_mail_and_delivers_when_back(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    dead_port = free_port()  # nothing listens here
    app = make_app(SMTP_URL=f"smtp://127.0.0.1:{dead_port}")
    make_initiative()
    sign(email="one@example.org")
    sign(email="two@example.org")

    with app.app_context():
        report = outbox.deliver_due(app, compose)
    assert report.sent == 0 and report.retried == 2 and report.server_down
    first, second = outbox_rows(app)
    # The mail that found the server down spends an attempt; the other was not tried.
    assert (first.status, first.attempts, second.status, second.attempts) == (
        "pending",
        1,
        "pending",
        0,
    )
    assert first.last_error and "@" not in first.last_error

    # SMTP is back; once the backoff has passed the mail goes out, exactly once each.
    app.config["SMTP_URL"] = smtp.url
    later = clock.utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 2
        assert outbox.deliver_due(app, compose).sent == 0
    assert sorted(str(m["To"]) for m in smtp.wait_for(2)) == ["one@example.org", "two@example.org"]
    assert all(r.status == "sent" for r in outbox_rows(app))


def test_a_refusing_server_is_retried_with_backoff_then_given_up(
    app, make_initiative, sign, smtp, monkeypatch
):
    make_initiative()
    sign()
    smtp.refuse = True
    now = clock.utcnow()
    for attempt in range(1, app.config["OUTBOX_MAX_ATTEMPTS"] + 1):
        monkeypatch.setattr(clock, "utcnow", lambda now=now: now)
        with app.app_context():
            outbox.deliver_due(app, compose)
        [row] = outbox_rows(app)
        assert row.attempts == attempt
        if row.status == OutboxStatus.PENDING:
            assert row.due_at - now >= outbox.backoff(attempt) - timedelta(seconds=1)
            now = row.due_at + timedelta(seconds=1)
    assert row.status == OutboxStatus.FAILED
    assert smtp.messages == []


def test_backoff_grows_and_is_capped():
    assert outbox.backoff(1) == timedelta(seconds=30)
    assert outbox.backoff(2) == timedelta(seconds=60)
    assert outbox.backoff(50) == timedelta(hours=6)


def test_two_workers_never_send_one_mail_twice(app, make_initiative, sign, smtp, backend):
    """Two workers drain the same queue at once; every mail arrives exactly once."""
    make_initiative()
    app.config["OUTBOX_BATCH_SIZE"] = 7
    for i in range(60):
        sign(email=f"person{i}@example.org")

    barrier = threading.Barrier(2)
    reports = []

    def worker() -> None:
        with app.app_context():
            barrier.wait(timeout=30)
            reports.append(outbox.deliver_due(app, compose))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(r.sent for r in reports) == 60
    received = [str(m["To"]) for m in smtp.wait_for(60)]
    assert len(received) == len(set(received)) == 60


def test_mail_has_text_and_html_parts_in_the_signers_language(
    app, client, make_initiative, sign, deliver, smtp
):
    make_initiative()
    sign()
    deliver()
    [mail] = smtp.wait_for(1)
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "Hej Amira Hassan" in text and "Hej <bdi>Amira Hassan</bdi>" in html
    assert mail["Content-Language"] == "sv"
    assert mail["Auto-Submitted"] == "auto-generated"
    # A signer who answers with a question reaches the organisers, not the sender address.
    reply_to = mail["Reply-To"].addresses[0]
    assert reply_to.addr_spec == app.config["ORGANISATION_EMAIL"]
    assert reply_to.display_name == app.config["ORGANISATION_NAME"] == "Rosengård Samverkan"
    [confirm] = [u for u in links_in(mail) if "/confirm/" in u]
    assert confirm.startswith("http://localhost/confirm/")
    assert confirm in html


def test_an_address_that_needs_smtputf8_fails_alone(app, make_initiative, sign, deliver, smtp):
    """We do not negotiate SMTPUTF8: that one mail fails for good, the rest go out.

    The forms refuse such addresses now; one stored before that (or by a future channel
    that skips the form) must still fail alone, so it goes in through the domain code.
    """
    initiative = make_initiative()
    with app.app_context():
        signatures.sign(
            db.session.merge(initiative), name="Åsa", email="åsa@exempel.se", locale="sv"
        )
        db.session.commit()
    sign(email="asa@example.org")
    report = deliver()
    assert (report.sent, report.failed, report.retried) == (1, 1, 0)
    assert [str(m["To"]) for m in smtp.wait_for(1)] == ["asa@example.org"]
    failed = [r for r in outbox_rows(app) if r.status == OutboxStatus.FAILED]
    assert len(failed) == 1 and "exempel" not in failed[0].last_error


def test_composing_a_batch_never_holds_the_write_lock(app, make_initiative, sign, smtp, backend):
    """On SQLite a worker composing mail must not stall signers: they can write meanwhile."""
    make_initiative()
    for i in range(3):
        sign(email=f"person{i}@example.org")
    writes = []

    def compose_while_someone_signs(message):
        with app.app_context(), db.engine.connect() as other:
            if backend == "sqlite":
                other.exec_driver_sql("PRAGMA busy_timeout = 200")
            other.execute(sa.update(Signature).values(source_tag="probe"))
            other.commit()
        writes.append(message.id)
        return compose(message)

    with app.app_context():
        report = outbox.deliver_due(app, compose_while_someone_signs)
    assert report.sent == 3 and len(writes) == 3
    assert len(smtp.wait_for(3)) == 3


def test_a_batch_reads_its_initiatives_once_however_many_mails_it_holds(
    app, make_initiative, sign, smtp
):
    """Composing loads each initiative (and its texts) once a batch, not once a mail."""
    make_initiative()
    make_initiative("second")

    def statements_to_deliver(count: int) -> int:
        for number in range(count):
            sign("amiralsgatan" if number % 2 else "second", email=f"s{count}-{number}@example.org")
        seen: list[str] = []

        def record(_conn, _cursor, statement, *_args) -> None:
            seen.append(statement)

        with app.app_context():
            engine = db.engine
            sa.event.listen(engine, "before_cursor_execute", record)
            try:
                assert outbox.deliver_due(app, compose).sent == count
            finally:
                sa.event.remove(engine, "before_cursor_execute", record)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    few, many = statements_to_deliver(2), statements_to_deliver(12)
    assert few == many, (few, many)
    assert len(smtp.wait_for(14)) == 14


def test_mail_given_up_after_an_outage_is_sent_again_only_where_it_still_helps(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    app = make_app(OUTBOX_MAX_ATTEMPTS=1)
    make_initiative()
    browser = app.test_client()
    for who in ("one", "two", "three"):
        sign(who=browser, email=f"{who}@example.org")
    smtp.refuse = True  # the provider refuses everything: every mail is given up
    with app.app_context():
        assert outbox.deliver_due(app, compose).failed == 3
        # Meanwhile the second signature expired: its link leads nowhere now.
        second = db.session.scalars(sa.select(Signature).order_by(Signature.id)).all()[1]
        second.state = "expired"
        db.session.commit()
    runner = app.test_cli_runner()
    status = runner.invoke(args=["outbox", "status"])
    assert status.exit_code == 1 and "flask outbox retry" in status.stderr

    # Retrying only mail given up in the last hour, two hours on, touches nothing.
    later = clock.utcnow() + timedelta(hours=2)
    with monkeypatch.context() as patch:
        patch.setattr(clock, "utcnow", lambda: later)
        early = runner.invoke(args=["outbox", "retry", "--hours", "1"])
    assert "queued again 0; left as given up 0" in early.output

    smtp.refuse = False
    result = runner.invoke(args=["outbox", "retry"])
    assert result.exit_code == 0, result.output
    assert "queued again 2; left as given up 1" in result.output
    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 2
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "outbox.requeued")
        ).all()
        assert [e.details["mails"] for e in events] == [0, 2]
    assert sorted(str(m["To"]) for m in smtp.wait_for(2)) == [
        "one@example.org",
        "three@example.org",
    ]
    assert [(r.status, r.attempts) for r in outbox_rows(app)] == [
        ("sent", 0),
        ("failed", 1),
        ("sent", 0),
    ]


def test_an_outage_costs_one_attempt_per_pause_not_one_per_mail(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    dead_port = free_port()  # nothing listens here
    app = make_app(SMTP_URL=f"smtp://127.0.0.1:{dead_port}", OUTBOX_BATCH_SIZE=3)
    make_initiative()
    browser = app.test_client()
    for number in range(7):
        sign(who=browser, email=f"signer{number}@example.org")
    now = clock.utcnow()
    monkeypatch.setattr(clock, "utcnow", lambda: now)

    def attempts() -> list[int]:
        return [row.attempts for row in outbox_rows(app)]

    with app.app_context():
        report = outbox.deliver_due(app, compose)
        # One connection tried, not one per batch: every mail waits for the pause.
        assert (report.retried, report.server_down) == (3, True)
        assert sum(attempts()) == 1
        assert outbox.deliver_due(app, compose).handled == 0
        for minutes in range(1, 11):  # ten minutes of outage, tried every 30 s
            for half in (0, 30):
                moment = now + timedelta(minutes=minutes - 1, seconds=half + 31)
                monkeypatch.setattr(clock, "utcnow", lambda moment=moment: moment)
                outbox.deliver_due(app, compose)
        assert sum(attempts()) == 21 and max(attempts()) < 12
        assert all(row.status == "pending" for row in outbox_rows(app))

        # The server is back: mail goes as soon as its wait is over, none given up.
        app.config["SMTP_URL"] = smtp.url
        for minutes in (11, 20, 30):
            moment = now + timedelta(minutes=minutes)
            monkeypatch.setattr(clock, "utcnow", lambda moment=moment: moment)
            outbox.deliver_due(app, compose)
    assert [row.status for row in outbox_rows(app)] == ["sent"] * 7
    assert len(smtp.wait_for(7)) == 7


def test_a_worker_asked_to_stop_records_the_mail_in_hand_and_stops(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    """SIGTERM (a deploy) while mail is going out: the worker stops after the mail in
    hand, records it, and puts the rest of its batch back untouched; it does not drain
    the queue first (systemd would kill it mid-batch, and sent mail would go again)."""
    app = make_app(OUTBOX_BATCH_SIZE=3)
    make_initiative()
    browser = app.test_client()
    for number in range(6):
        sign(who=browser, email=f"surge{number}@example.org")
    stop = {"now": False}
    real = outbox.transport_for

    class StopAskedDuringTheFirstSend:
        def __init__(self, inner):
            self.inner = inner

        def send(self, message):
            self.inner.send(message)
            stop["now"] = True

        def close(self):
            self.inner.close()

    monkeypatch.setattr(outbox, "transport_for", lambda a: StopAskedDuringTheFirstSend(real(a)))
    with app.app_context():
        outbox.work(app, compose, should_stop=lambda: stop["now"])
    states = [(r.status, r.attempts) for r in outbox_rows(app)]
    assert states.count(("sent", 0)) == 1
    assert states.count(("pending", 0)) == 5  # back in the queue, no try spent
    assert len(smtp.wait_for(1)) == 1
    monkeypatch.setattr(outbox, "transport_for", real)
    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 5  # the next worker sends the rest


def test_a_batch_stops_before_its_lease_ends_so_no_other_worker_sends_it_again(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    """A slow server: half the lease has gone by after the first mail.  The batch stops
    there and records what it sent, so another worker claiming after the lease finds
    only the mail nobody sent."""
    app = make_app()
    make_initiative()
    browser = app.test_client()
    for who in ("first", "second", "third"):
        sign(who=browser, email=f"{who}@example.org")
    start = clock.utcnow()
    monkeypatch.setattr(clock, "utcnow", lambda: start)
    real = outbox.transport_for

    class SlowServer:
        def __init__(self, inner):
            self.inner = inner

        def send(self, message):
            self.inner.send(message)
            later = start + outbox.LEASE * outbox.LEASE_SAFETY
            monkeypatch.setattr(clock, "utcnow", lambda: later)

        def close(self):
            self.inner.close()

    monkeypatch.setattr(outbox, "transport_for", lambda a: SlowServer(real(a)))
    with app.app_context():
        first = outbox.deliver_due(app, compose)
    assert (first.sent, first.released) == (1, 2)
    monkeypatch.setattr(outbox, "transport_for", real)
    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 2
    received = sorted(str(m["To"]) for m in smtp.wait_for(3))
    assert received == ["first@example.org", "second@example.org", "third@example.org"]


class Throttling:
    """Answers RCPT for busy@ with 421, as Microsoft 365 or Gmail do when throttling."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("busy"):
            return "421 4.7.0 Too many messages, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"


def test_a_421_throttle_pauses_sending_and_costs_only_the_mail_that_met_it(
    make_app, make_initiative, sign
):
    """smtplib closes the connection on a 421: the next mail used to fail on the closed
    connection, spending a try of its own and logged as "server down"."""
    from aiosmtpd.controller import Controller

    handler = Throttling()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = make_app(SMTP_URL=f"smtp://127.0.0.1:{port}")
        make_initiative()
        for address in ("busy@example.org", "innocent@example.org"):
            sign(who=app.test_client(), email=address)
        with app.app_context():
            report = outbox.deliver_due(app, compose)
    finally:
        controller.stop()
    assert report.server_down and handler.delivered == []
    busy, innocent = outbox_rows(app)
    assert (busy.status, busy.attempts, busy.last_error) == (
        "pending",
        1,
        "SMTPRecipientsRefused 421 4.7.0",
    )
    assert (innocent.status, innocent.attempts, innocent.last_error) == ("pending", 0, None)


class Verifying:
    """Answers RCPT as a server that checks its recipients does (Postfix with
    reject_unverified_recipient, Exchange for its own domain)."""

    ANSWERS = {
        "typo": "550 5.1.1 <typo@example.org>: Recipient address rejected: User unknown",
        "greylisted": "450 4.2.0 <greylisted@example.org>: Recipient address rejected: Greylisted",
        "relay": "550 5.7.1 <relay@example.org>: Relay access denied",
    }

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        answer = self.ANSWERS.get(address.partition("@")[0])
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"


def test_a_mailbox_the_server_says_does_not_exist_is_given_up_at_once(
    make_app, make_initiative, sign
):
    """A mistyped address (5.1.1 "user unknown") was asked again twelve times over about
    fourteen hours, each time spending a place under the provider's limit; a refusal
    that may pass (greylisting) or that concerns us, not the address (relaying denied),
    is still tried again."""
    from aiosmtpd.controller import Controller

    handler = Verifying()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = make_app(SMTP_URL=f"smtp://127.0.0.1:{port}")
        make_initiative()
        for who in ("typo", "greylisted", "relay", "amira"):
            sign(who=app.test_client(), email=f"{who}@example.org")
        with app.app_context():
            report = outbox.deliver_due(app, compose)
    finally:
        controller.stop()
    assert handler.delivered == ["amira@example.org"]
    assert (report.sent, report.failed, report.retried, report.server_down) == (1, 1, 2, False)
    typo, greylisted, relay, amira = outbox_rows(app)
    assert (typo.status, typo.attempts, typo.last_error) == (
        "failed",
        1,
        "SMTPRecipientsRefused 550 5.1.1",
    )
    assert (greylisted.status, greylisted.attempts) == ("pending", 1)
    assert (relay.status, relay.attempts) == ("pending", 1)
    assert amira.status == "sent"
    # `outbox retry` after an outage leaves it: it would only be refused again.
    retry = app.test_cli_runner().invoke(args=["outbox", "retry"])
    assert "queued again 0; left as given up 1" in retry.output, retry.output
    assert "do not exist" in retry.output


def test_the_operator_can_tell_a_mistyped_address_from_a_relay_that_refuses_us(
    make_app, make_initiative, sign
):
    """Both answer 550, and status listed both as "SMTPRecipientsRefused 550": the
    operator could not tell a signer's typo (nothing to do) from a relay that no longer
    takes our mail (fix the account).  The enhanced status code tells them apart."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(Verifying(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = make_app(SMTP_URL=f"smtp://127.0.0.1:{port}")
        make_initiative()
        for who in ("typo", "relay"):
            sign(who=app.test_client(), email=f"{who}@example.org")
        with app.app_context():
            outbox.deliver_due(app, compose)
    finally:
        controller.stop()
    status = app.test_cli_runner().invoke(args=["outbox", "status"])
    assert "error in the last 24 hours: SMTPRecipientsRefused 550 5.1.1 ×1" in status.stdout
    assert "error in the last 24 hours: SMTPRecipientsRefused 550 5.7.1 ×1" in status.stdout
    assert "@" not in status.output


def test_an_address_that_does_not_parse_fails_alone_and_stays_out_of_the_log(
    app, make_initiative, sign, deliver, smtp, caplog
):
    """The worker logged why such a mail cannot be composed, traceback and all: the
    parser's message quoted the signer's address."""
    import logging

    initiative = make_initiative()
    with app.app_context():
        signatures.sign(
            db.session.merge(initiative), name="Ali", email="ali.omar@example.org>", locale="sv"
        )
        db.session.commit()
    sign(email="asa@example.org")
    caplog.set_level(logging.DEBUG, logger="initiatives")
    report = deliver()
    assert (report.sent, report.failed, report.retried) == (1, 1, 0)
    assert [str(m["To"]) for m in smtp.wait_for(1)] == ["asa@example.org"]
    logged = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "cannot be composed" in logged  # the test sees the log (so it can fail)
    assert "ali.omar" not in logged


def test_a_mail_sent_again_after_a_worker_died_keeps_its_message_id(
    app, make_initiative, sign, smtp, monkeypatch
):
    """A worker killed after the server took a mail, before it recorded the mail as sent
    (out of memory, a host restart): another worker sends it again once the lease ends.
    The copy carried a Message-ID of its own, so the signer's mail program showed two
    mails; with the same one it can tell the copy (Gmail drops it)."""
    make_initiative()
    sign(email="amira@example.org")
    real = outbox.transport_for

    class Killed(BaseException):
        pass

    class DiesAfterSending:
        def __init__(self, inner):
            self.inner = inner

        def send(self, message):
            self.inner.send(message)
            raise Killed

        def close(self):
            self.inner.close()

    monkeypatch.setattr(outbox, "transport_for", lambda a: DiesAfterSending(real(a)))
    with app.app_context(), pytest.raises(Killed):
        outbox.deliver_due(app, compose)
    monkeypatch.setattr(outbox, "transport_for", real)
    later = clock.utcnow() + outbox.LEASE + timedelta(seconds=1)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 1
    first, again = smtp.wait_for(2)
    assert str(first["To"]) == str(again["To"]) == "amira@example.org"
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].endswith("@example.org>")


def test_a_subject_in_plain_ascii_is_sent_unencoded(app, client, make_initiative, sign, smtp):
    """Spam filters count a subject encoded although it is plain ASCII against the mail
    (rspamd's SUBJ_EXCESS_BASE64, 1.5 points): every English and Somali mail about an
    initiative with an ASCII title carried one.  A subject that needs it is still encoded,
    and a title with a line break in it can never start a header of its own."""
    make_initiative(
        texts={
            "sv": {"title": "Tryggare Amiralsgatan", "summary": "s", "body": "b"},
            "so": {"title": "Safer\nBcc: someone@example.net", "summary": "s", "body": "b"},
        }
    )
    for locale in ("en", "sv", "so"):
        client.set_cookie("lang", locale)
        assert sign(email=f"{locale}@example.org").status_code == 303
    with app.app_context():
        messages = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))
        raw = [compose(m).as_bytes() for m in messages]
    english, swedish, somali = (r.split(b"\n\n", 1)[0] for r in raw)
    assert b"\nSubject: Confirm your signature: Tryggare Amiralsgatan\n" in english
    assert b"\nSubject: =?utf-8?b?" in swedish  # "Bekräfta"
    assert b"\nSubject: =?utf-8?b?" in somali and b"\nBcc:" not in somali


def test_a_server_that_accepts_and_never_answers_costs_smtp_timeout_seconds(
    make_app, make_initiative, sign, smtp
):
    """A relay that takes the connection and then says nothing (overloaded, a firewall
    half-open) holds the worker for SMTP_TIMEOUT_SECONDS, then counts as down: the mail
    keeps its place, and every other mail waits for the pause, not for its own timeout."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))  # accepts; never sends a greeting
    try:
        port = silent.getsockname()[1]
        app = make_app(SMTP_URL=f"smtp://127.0.0.1:{port}", SMTP_TIMEOUT_SECONDS=1)
        make_initiative()
        sign(email="one@example.org")
        sign(email="two@example.org")
        with app.app_context():
            report = outbox.deliver_due(app, compose)
        assert report.server_down and report.sent == 0
        assert [(r.status, r.attempts) for r in outbox_rows(app)] == [
            ("pending", 1),
            ("pending", 0),
        ]
    finally:
        silent.close()

    # The setting reaches the connection (a real one, to the loopback server).
    app.config["SMTP_URL"] = smtp.url
    with app.app_context():
        transport = outbox.transport_for(app)
        transport.send(compose(db.session.scalars(sa.select(OutboxMessage)).first()))
        assert transport._conn.sock.gettimeout() == 1
        transport.close()
