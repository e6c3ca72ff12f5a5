"""campaign tags on initiatives (the ?src= values counted per initiative)

Revision ID: 0002_qr
Revises: 0001
Create Date: 2026-11-27 00:55:59.196700

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_qr'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # Existing initiatives get the default tags, so printed material keeps being counted.
    with op.batch_alter_table('initiatives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_tags', sa.JSON(), server_default=sa.text('\'["qr", "poster", "flyer", "stand"]\''), nullable=False))


def downgrade():
    with op.batch_alter_table('initiatives', schema=None) as batch_op:
        batch_op.drop_column('campaign_tags')
