"""Several annotators at once: claims on images under review, a version on every box, and
who runs a training until when.

``claim`` holds one lease per image (who reviews it, until when: the database's clock, in
UTC); ``box.version`` starts at 1 and grows on every change, so an edit made on what an
app showed is refused once someone else changed the box (optimistic locking). Boxes
written before this revision start at version 1. ``training_run.user_name`` and
``lease_until`` say who trains and until when the run counts as alive (renewed as it goes).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A NOT NULL column with a default is added in place on both SQLite and PostgreSQL.
    op.add_column("box", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "claim",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_claim_image_id_image"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_claim")),
    )
    op.create_index(op.f("ix_claim_expires_at"), "claim", ["expires_at"])
    op.add_column("training_run", sa.Column("user_name", sa.String(), nullable=True))
    op.add_column("training_run", sa.Column("lease_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_run") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("user_name")
    op.drop_index(op.f("ix_claim_expires_at"), table_name="claim")
    op.drop_table("claim")
    with op.batch_alter_table("box", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("version")
