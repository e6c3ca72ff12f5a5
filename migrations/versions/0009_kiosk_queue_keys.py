"""Keys that seal a stand tablet's offline queue

Signatures a tablet queued offline sat in its browser in plain text: anyone holding the
tablet could read who signed. The tablet now seals them to a key pair made at each
enrolment; the private key is kept here, encrypted under DATA_KEY (kiosk_queue.py).
Tablets enrolled before this migration get their key pair on their next start screen.

Revision ID: 0009_kiosk_queue_keys
Revises: 0008_paper_kept_at
Create Date: 2026-11-28 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009_kiosk_queue_keys"
down_revision = "0008_paper_kept_at"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue_public_key", sa.String(length=600), nullable=True))
        batch_op.add_column(sa.Column("queue_keys_enc", sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.drop_column("queue_keys_enc")
        batch_op.drop_column("queue_public_key")
