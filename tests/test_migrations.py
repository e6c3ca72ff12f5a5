"""``db upgrade`` on an empty database produces exactly the models' schema."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from initiatives import audit, create_app, paper
from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative, Signature

from .conftest import _test_config, create_initiative


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    return request.getfixturevalue("pg_database")


def _diff(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_head_matches_the_models(empty_database: str, tmp_path: Path):
    app = create_app(_test_config(empty_database, tmp_path / "instance"))
    with app.app_context():
        upgrade()
    assert _diff(app) == []

    # The partial unique index that keeps one live signature per address exists as such.
    with app.app_context():
        inspector = sa.inspect(db.engine)
        indexes = {ix["name"]: ix for ix in inspector.get_indexes("signatures")}
        live = indexes["uq_signatures_live_email"]
        assert live["unique"]
        assert live["column_names"] == ["initiative_id", "email_index"]
        where = live.get("dialect_options", {})
        assert any("pending" in str(v) for v in where.values()), where
        db.engine.dispose()


def test_downgrade_to_base_and_up_again(empty_database: str, tmp_path: Path):
    app = create_app(_test_config(empty_database, tmp_path / "instance"))
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() in ([], ["alembic_version"])
        upgrade()
    assert _diff(app) == []
    with app.app_context():
        db.engine.dispose()


def test_a_paper_rows_changed_at_is_the_last_change_on_record(empty_database: str, tmp_path: Path):
    """Rows there were before ``changed_at`` get the latest of their signature's
    ``created_at``, their ``kept_at`` and their last correction or restore on the audit
    log; the audit events of other actions count for nothing."""
    app = create_app(_test_config(empty_database, tmp_path / "instance"))
    with app.app_context():
        upgrade()
    create_initiative(app)
    at = {day: datetime(2026, 11, day, 12, tzinfo=UTC) for day in range(1, 6)}
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        sheet = paper.add_sheet(
            initiative, "admin", number="1", collected_on=date.today(), collected_by="Lina"
        )
        rows = [
            paper.add_row(sheet, "admin", name=name, postcode=None, signed_on=date.today())[0]
            for name in ("Amina Hassan", "Hodan Ali", "Omar Farah", "Samira Yusuf", "Lina Berg")
        ]
        typed, kept, corrected, corrected_then_kept, restored = (r.signature_id for r in rows)
        db.session.execute(sa.update(Signature).values(created_at=at[1]))
        db.session.execute(sa.update(AuditEvent).values(at=at[5]))  # typed: not a change
        for row, kept_at in ((kept, at[3]), (corrected_then_kept, at[4])):
            db.session.execute(
                sa.update(paper.PaperRow)
                .where(paper.PaperRow.signature_id == row)
                .values(review=paper.Review.KEPT, kept_at=kept_at)
            )
        events = (
            (corrected, "paper.row_corrected", (2, 3)),
            (corrected_then_kept, "paper.row_corrected", (2,)),
            (restored, "signature.restored", (4,)),
        )
        for row, action, days in events:
            for day in days:
                event = audit.record(
                    action, actor="admin", signature=db.session.get(Signature, row)
                )
                event.at = at[day]
        db.session.commit()
        db.session.remove()

        downgrade(revision="0010_details_version")
        upgrade()
        query = sa.select(paper.PaperRow.signature_id, paper.PaperRow.changed_at)
        changed = {row_id: when for row_id, when in db.session.execute(query)}
        assert changed == {
            typed: at[1],
            kept: at[3],
            corrected: at[3],
            corrected_then_kept: at[4],
            restored: at[4],
        }
        db.session.remove()
        downgrade(revision="0010_details_version")
        assert "changed_at" not in {
            c["name"] for c in sa.inspect(db.engine).get_columns("paper_rows")
        }
        db.engine.dispose()
