"""Number the details of a pending signature, so a corrected name gets its own link

A signer who typed her name wrong and signs again while her signature is pending now
corrects it.  Each correction raises this number, and a confirmation link carries the
number it was made for: an older link (which greets the old name, and may be in the
mailbox of the address's owner while a stranger typed the new one) no longer confirms.
Every existing signature is at 0, as are the links already sent (they carry none).

Revision ID: 0010_details_version
Revises: 0009_kiosk_queue_keys
Create Date: 2026-11-28 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010_details_version"
down_revision = "0009_kiosk_queue_keys"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("details_version", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_column("details_version")
