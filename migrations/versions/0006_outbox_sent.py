"""Index sent mail by when it went out, so the outbox health check stays fast

`flask outbox status` and the admin start page count the mail sent in the last hour and
read when the last one went out.  Sent mail stays in the table for good (its body is
cleared on the retention schedule), so without this index both read every mail ever
sent.  Creating it takes a short write lock on the outbox; on a large PostgreSQL table an
operator may prefer to run `CREATE INDEX CONCURRENTLY` by hand first (this revision then
finds it).

Revision ID: 0006_outbox_sent
Revises: 0005_bench
Create Date: 2026-11-27 14:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0006_outbox_sent"
down_revision = "0005_bench"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_messages_sent", ["status", "sent_at"], unique=False, if_not_exists=True
        )


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_sent")
