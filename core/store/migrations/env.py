"""Alembic environment of the project database, run programmatically by core.store.migrate.

There is no alembic.ini: :func:`core.store.migrate.alembic_config` builds the configuration
and passes an open connection in ``config.attributes["connection"]``, inside a transaction
that also covers the version stamp. To write the next revision after changing
core/store/models.py, against a database at head::

    with engine.connect() as conn:
        command.revision(alembic_config(conn), "what changed", rev_id="0002", autogenerate=True)
"""

from alembic import context

from core.store.models import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
