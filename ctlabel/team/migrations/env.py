"""Alembic environment: runs on the connection :func:`ctlabel.team.db.migrate` hands over.

Importing this module outside a migration (e.g. a scan of every ctlabel module) does nothing.
"""

from __future__ import annotations


def _run() -> None:
    from alembic import context

    from ctlabel.team.db import Base, make_engine

    config = context.config
    conn = config.attributes.get("connection")
    if conn is None:  # `alembic upgrade` from a shell: the URL comes from the ini file
        url = config.get_main_option("sqlalchemy.url")
        assert url is not None, "the alembic ini file names no sqlalchemy.url"
        engine = make_engine(url)
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=Base.metadata)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=conn, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


def _in_alembic() -> bool:
    try:
        from alembic import context

        context.config  # noqa: B018 - raises outside a migration
    except (NameError, AttributeError, ImportError):
        return False
    return True


if _in_alembic():
    _run()
