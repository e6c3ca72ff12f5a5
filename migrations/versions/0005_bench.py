"""Index signatures by address, so the duplicate check stays fast as they grow

SQLite cannot use the partial unique index uq_signatures_live_email for the duplicate
check (the query binds the states as parameters), so it scanned every pending signature
of the initiative for each new one.  A plain index on (initiative, address, state)
serves the lookup on both engines; with the state in it SQLite's planner picks it even
before ANALYZE has run.
Creating an index takes a short write lock; on a large PostgreSQL table an operator may
prefer to run `CREATE INDEX CONCURRENTLY` by hand first (this revision then finds it).

Revision ID: 0005_bench
Revises: 0004_admin
Create Date: 2026-11-27 01:08:24.814944

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0005_bench"
down_revision = "0004_admin"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signatures_initiative_email",
            ["initiative_id", "email_index", "state"],
            unique=False,
            if_not_exists=True,
        )


def downgrade():
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_index("ix_signatures_initiative_email")
