"""The command line: demo data, outbox, keys."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from initiatives.extensions import db
from initiatives.models import Initiative


def test_demo_is_idempotent_and_loads_amiralsgatan_for_tekniska_namnden(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "amiralsgatan" in first.output
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and "already loaded" in second.output
    with app.app_context():
        initiatives = db.session.scalars(sa.select(Initiative).order_by(Initiative.slug)).all()
        assert len(initiatives) == 2
        amiralsgatan = next(i for i in initiatives if i.slug == "amiralsgatan")
        assert amiralsgatan.target_body == "Tekniska nämnden"
        assert amiralsgatan.threshold == 100
        assert amiralsgatan.is_example
        assert amiralsgatan.accepts_signatures()
        assert amiralsgatan.text_hash == amiralsgatan.compute_text_hash()
        assert "exempel" in amiralsgatan.text("sv").body.lower()


def test_outbox_send_delivers_and_reports(app, make_initiative, sign, smtp):
    make_initiative()
    sign()
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output
    assert len(smtp.wait_for(1)) == 1


def test_generate_data_key_prints_a_fernet_key(app):
    result = app.test_cli_runner().invoke(args=["generate-data-key"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())  # a valid key, or this raises


def test_a_database_that_is_not_there_or_not_migrated_is_explained_without_a_traceback(tmp_path):
    """An operator's first `purge` before `db upgrade`, or with PostgreSQL down, gets a
    sentence saying what to check and a non-zero status (cron alerts on it)."""
    from initiatives import create_app

    from .conftest import _test_config

    empty = create_app(_test_config(f"sqlite:///{tmp_path / 'new.sqlite3'}", tmp_path / "a"))
    down = create_app(_test_config("postgresql://postgres@127.0.0.1:9/x", tmp_path / "b"))
    for app, hint in ((empty, "db upgrade"), (down, "DATABASE_URL")):
        for args in (["purge"], ["outbox", "status"], ["kiosk", "list"], ["stats", "x"]):
            result = app.test_cli_runner().invoke(args=args)
            assert result.exit_code == 1, (args, result.output)
            assert isinstance(result.exception, SystemExit), (args, result.exception)
            assert "Error: the database" in result.output and hint in result.output, args
            assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["abuse", "restore", "amiralsgatan", "--event", "9" * 20],
        ["abuse", "invalidate", "amiralsgatan", "--kiosk", "9" * 20, "--dry-run"],
        ["outbox", "retry", "--hours", "9" * 20],
        [
            "abuse",
            "invalidate",
            "amiralsgatan",
            "--since",
            "0001-01-01",
            "--reason",
            "test",
            "--dry-run",
        ],
        [
            "abuse",
            "invalidate",
            "amiralsgatan",
            "--until",
            "9999-12-31T23:59",
            "--reason",
            "test",
            "--dry-run",
        ],
    ],
)
def test_a_number_too_large_for_the_database_is_refused_as_an_option(app, make_initiative, args):
    """A typo of many digits gets click's usage message, not a traceback."""
    make_initiative()
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "range" in result.output or "between the years" in result.output
