"""Remember when an organiser kept a flagged paper row

"Sök efter nya dubbletter" skipped every row an organiser had kept, so someone with the
same name and postcode who signed online afterwards was never compared with it. A kept
row is now flagged again by a signature made after it was kept. Rows kept before this
migration count as kept now: what they were compared with is not recorded.

Revision ID: 0008_paper_kept_at
Revises: 0007_link_sent
Create Date: 2026-11-27 18:40:00.000000

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008_paper_kept_at"
down_revision = "0007_link_sent"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("paper_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kept_at", sa.DateTime(), nullable=True))
    # Stored as naive UTC, like every timestamp (models.UTCDateTime).
    now = datetime.now(UTC).replace(tzinfo=None)
    op.get_bind().execute(
        sa.text("UPDATE paper_rows SET kept_at = :now WHERE review = 'kept'"), {"now": now}
    )


def downgrade():
    with op.batch_alter_table("paper_rows", schema=None) as batch_op:
        batch_op.drop_column("kept_at")
