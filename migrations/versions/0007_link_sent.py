"""Remember when a pending signature's newest confirmation link went out

A signer who signs again (the first mail went to spam) or whom an organiser sends a new
link gets a mail that says the link works for CONFIRM_DAYS.  Unconfirmed signatures
expired, and were deleted, counting from the first attempt, so a link sent on day 6 died
on day 7.  Both now count from this column when it is set (from `created_at` when not):
nothing to fill in for existing rows.

Revision ID: 0007_link_sent
Revises: 0006_outbox_sent
Create Date: 2026-11-27 16:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007_link_sent"
down_revision = "0006_outbox_sent"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_sent_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_column("link_sent_at")
