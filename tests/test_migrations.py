"""``db upgrade`` on an empty database produces exactly the models' schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from initiatives import create_app
from initiatives.extensions import db

from .conftest import _test_config


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
