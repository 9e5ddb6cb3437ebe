"""Who did it: the user name of the app on every event and on the last change of a box.

Several annotators share a PostgreSQL project; each app has a user name (the login name
unless set). ``event.user_name`` is who logged the event, ``box.updated_by`` who added or
last changed the box. Rows written before this revision keep NULL (unknown).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is added in place on both SQLite and PostgreSQL (no table copy).
    op.add_column("event", sa.Column("user_name", sa.String(), nullable=True))
    op.add_column("box", sa.Column("updated_by", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("box", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("updated_by")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("user_name")
