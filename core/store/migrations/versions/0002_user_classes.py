"""The annotator's classes only: ordered classes, proposals without a class, network names
as hints.

Before this revision every proposal carried its network's class name (an ImageNet name
such as "Arctic fox") as a class, so those names became classes of the project. This
revision mends such a project:

- ``label_class.position`` orders the classes (keys 1-9 follow it), set from the ids;
- ``box.class_id`` may be NULL and ``box.hint`` keeps a network's guess;
- a proposal still ``proposed`` or ``rejected`` whose class no person used (no box drawn,
  imported, accepted or edited with it) loses the class, which becomes its hint;
- a class that then has no box is removed when the event log names it only for
  proposals (classes created by hand and never used have no events and stay).

Accepted, edited, drawn and imported boxes keep their class.

Runs on SQLite and PostgreSQL: the JSON paths and the box id sequence are written per
dialect (:func:`_json_text`; only SQLite needs its ``sqlite_sequence`` row carried over
the copy of the table).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Classes that a person gave to a box still in the project.
USED_BY_PERSON = """
    SELECT DISTINCT class_id FROM box
    WHERE origin IN ('human', 'imported') OR state IN ('accepted', 'edited')
"""


def _json_text(*keys: str) -> str:
    """SQL for the text at ``detail.<keys>`` of an event, in the dialect of the migration."""
    if op.get_bind().dialect.name == "postgresql":
        return f"(detail #>> '{{{','.join(keys)}}}')"
    return f"json_extract(detail, '$.{'.'.join(keys)}')"


def _named_by_person() -> str:
    """Class names that an event of a person names (drawn, imported, edited, restored)."""
    name, origin, after = _json_text("class"), _json_text("origin"), _json_text("after", "class")
    return f"""
    SELECT {name} FROM event
    WHERE action IN ('add', 'import') AND {origin} != 'proposal'
    UNION SELECT {after} FROM event WHERE action = 'edit'
    UNION SELECT {name} FROM event WHERE action = 'restore'
"""


def upgrade() -> None:
    with op.batch_alter_table("label_class") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
    run = op.get_bind().execute
    sqlite = op.get_bind().dialect.name == "sqlite"
    last_id = (
        run(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'box'")).scalar()
        if sqlite
        else None  # a PostgreSQL sequence never hands out an id twice
    )
    with op.batch_alter_table("box", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("class_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("hint", sa.String(), nullable=True))
    if last_id is not None:  # ids of deleted boxes stay unused (the event log names them)
        run(sa.text("DELETE FROM sqlite_sequence WHERE name = 'box'"))
        run(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('box', :seq)"),
            {"seq": last_id},
        )
    run(
        sa.text(
            f"""UPDATE box SET
                hint = (SELECT name FROM label_class WHERE label_class.id = box.class_id),
                class_id = NULL
            WHERE origin = 'proposal' AND state IN ('proposed', 'rejected')
              AND class_id NOT IN ({USED_BY_PERSON})"""
        )
    )
    run(
        sa.text(
            f"""DELETE FROM label_class
            WHERE id NOT IN (SELECT class_id FROM box WHERE class_id IS NOT NULL)
              AND name NOT IN ({_named_by_person()})
              AND name IN (SELECT {_json_text("class")} FROM event)"""
        )
    )
    run(
        sa.text(
            """UPDATE label_class SET position =
            (SELECT count(*) FROM label_class AS earlier WHERE earlier.id < label_class.id)"""
        )
    )


def downgrade() -> None:
    """Give every class-less proposal its hint back as a class, then drop the columns."""
    run = op.get_bind().execute
    run(
        sa.text(
            """INSERT INTO label_class (name) SELECT DISTINCT coalesce(hint, 'object')
            FROM box WHERE class_id IS NULL ON CONFLICT (name) DO NOTHING"""
        )
    )
    run(
        sa.text(
            """UPDATE box SET class_id =
            (SELECT id FROM label_class WHERE name = coalesce(box.hint, 'object'))
            WHERE class_id IS NULL"""
        )
    )
    with op.batch_alter_table("box", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("hint")
        batch.alter_column("class_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("label_class") as batch:
        batch.drop_column("position")
