"""Organiser accounts and login throttling, amendments and answers, paper sheets

Revision ID: 0004_admin
Revises: 0003_kiosk
Create Date: 2026-11-27 01:08:57.433812

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_admin'
down_revision = '0003_kiosk'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('admin_login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('client_key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_login_failures'))
    )
    with op.batch_alter_table('admin_login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_admin_login_failures_account', ['account_key', 'at'], unique=False)
        batch_op.create_index('ix_admin_login_failures_client', ['client_key', 'at'], unique=False)

    op.create_table('admin_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('totp_secret_enc', sa.LargeBinary(), nullable=True),
    sa.Column('totp_pending_enc', sa.LargeBinary(), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_nonce', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'organiser')", name=op.f('ck_admin_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_users')),
    sa.UniqueConstraint('email', name=op.f('uq_admin_users_email'))
    )
    op.create_table('answer_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('initiative_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'], name=op.f('fk_answer_documents_initiative_id_initiatives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_documents')),
    sa.UniqueConstraint('initiative_id', name=op.f('uq_answer_documents_initiative_id'))
    )
    op.create_table('initiative_amendments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('initiative_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('new_hash', sa.String(length=64), nullable=False),
    sa.Column('previous_text', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'], name=op.f('fk_initiative_amendments_initiative_id_initiatives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_initiative_amendments'))
    )
    with op.batch_alter_table('initiative_amendments', schema=None) as batch_op:
        batch_op.create_index('ix_initiative_amendments_initiative', ['initiative_id', 'at'], unique=False)

    op.create_table('paper_sheets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('initiative_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('collected_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'], name=op.f('fk_paper_sheets_initiative_id_initiatives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_sheets')),
    sa.UniqueConstraint('initiative_id', 'number', name=op.f('uq_paper_sheets_initiative_id'))
    )
    op.create_table('paper_rows',
    sa.Column('signature_id', sa.Integer(), nullable=False),
    sa.Column('sheet_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('review', sa.String(length=16), nullable=True),
    sa.CheckConstraint("review IN ('pending', 'kept', 'resolved')", name=op.f('ck_paper_rows_review')),
    sa.ForeignKeyConstraint(['sheet_id'], ['paper_sheets.id'], name=op.f('fk_paper_rows_sheet_id_paper_sheets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signature_id'], ['signatures.id'], name=op.f('fk_paper_rows_signature_id_signatures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('signature_id', name=op.f('pk_paper_rows')),
    sa.UniqueConstraint('sheet_id', 'line', name=op.f('uq_paper_rows_sheet_id'))
    )
    with op.batch_alter_table('initiatives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organiser_contact', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('city_reference', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('answer_text', sa.Text(), nullable=True))



def downgrade():
    with op.batch_alter_table('initiatives', schema=None) as batch_op:
        batch_op.drop_column('answer_text')
        batch_op.drop_column('city_reference')
        batch_op.drop_column('organiser_contact')

    op.drop_table('paper_rows')
    op.drop_table('paper_sheets')
    with op.batch_alter_table('initiative_amendments', schema=None) as batch_op:
        batch_op.drop_index('ix_initiative_amendments_initiative')

    op.drop_table('initiative_amendments')
    op.drop_table('answer_documents')
    op.drop_table('admin_users')
    with op.batch_alter_table('admin_login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_admin_login_failures_client')
        batch_op.drop_index('ix_admin_login_failures_account')

    op.drop_table('admin_login_failures')
