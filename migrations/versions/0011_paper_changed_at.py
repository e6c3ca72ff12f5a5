"""Remember when a paper row last changed

Whether an organiser's keep of one paper row answered about another depends on the
other row reading then what it reads now: "kept since the row was typed" missed a row
corrected after the keep, and an earlier row stayed flagged although a later row kept
after it had answered about the two.  A row's ``changed_at`` is set when it is typed,
when its name or postcode is corrected, when an organiser keeps it or takes it out as
the same person, and when it counts again after it was taken out (a keep of another row
meanwhile did not see it).

Existing rows get the latest of what is recorded: their signature's ``created_at``,
their ``kept_at`` (a correction clears it, so a row kept has not been corrected since),
and their last correction or restore of one on the audit log (any correction, of the
date too, any restore, whatever the reason was: a later time only ever asks an
organiser more, never less).  A restore in abuse review lists its signatures in its
details, not by signature id, and is not looked for.

Revision ID: 0011_paper_changed_at
Revises: 0010_details_version
Create Date: 2026-11-28 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011_paper_changed_at"
down_revision = "0010_details_version"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("paper_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changed_at", sa.DateTime(), nullable=True))
    bind = op.get_bind()
    # Stored as naive UTC on both engines (models.UTCDateTime), so they compare as such.
    bind.execute(
        sa.text(
            "UPDATE paper_rows SET changed_at = ("
            " SELECT signatures.created_at FROM signatures"
            " WHERE signatures.id = paper_rows.signature_id)"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE paper_rows SET changed_at = kept_at"
            " WHERE kept_at IS NOT NULL AND kept_at > changed_at"
        )
    )
    corrected = (
        "SELECT max(audit_events.at) FROM audit_events"
        " WHERE audit_events.signature_id = paper_rows.signature_id"
        " AND audit_events.action IN ('paper.row_corrected', 'signature.restored')"
    )
    bind.execute(
        sa.text(
            f"UPDATE paper_rows SET changed_at = ({corrected})"
            f" WHERE ({corrected}) > changed_at"
        )
    )
    with op.batch_alter_table("paper_rows", schema=None) as batch_op:
        batch_op.alter_column("changed_at", existing_type=sa.DateTime(), nullable=False)


def downgrade():
    with op.batch_alter_table("paper_rows", schema=None) as batch_op:
        batch_op.drop_column("changed_at")
