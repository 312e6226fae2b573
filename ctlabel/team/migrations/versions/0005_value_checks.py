"""CHECK constraints on the enum-like columns: roles, case states, claims, reads, uploads and rates.

A database that holds a value outside these lists is refused with the rows to correct, and
nothing changes. SQLite rebuilds each table to add its constraints (batch mode; ``migrate``
turns foreign keys off for it, and the rebuilt tables are checked with ``foreign_key_check``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: table -> column -> the values it may hold, as of this revision (later revisions change them, not this list)
CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "users": {"role": ("annotator", "reviewer", "lead")},
    "cases": {"state": ("in_progress", "submitted", "approved", "rejected")},
    "assignments": {"kind": ("annotate", "review"),
                    "status": ("open", "done", "withdrawn", "expired", "flagged", "reassigned", "released")},
    "reads": {"slot": ("A", "B"), "status": ("open", "submitted", "done", "withdrawn", "expired", "released")},
    "uploads": {"kind": ("draft", "correction")},
    "rates": {"kind": ("annotation", "review", "rework")},
}


def _sql(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def outside(bind: sa.engine.Connection) -> list[str]:
    """``table.column = 'value' (n rows)`` for every value the constraints would refuse."""
    found = []
    for table, columns in CHECKS.items():
        for column, values in columns.items():
            rows = bind.execute(sa.text(f"SELECT {column}, COUNT(*) FROM {table} WHERE NOT ({_sql(column, values)}) "
                                        f"GROUP BY {column} ORDER BY {column}")).all()
            found += [f"{table}.{column} = {value!r} ({n} row{'s' * (n != 1)}; allowed: {', '.join(values)})"
                      for value, n in rows]
    return found


def upgrade() -> None:
    from ctlabel.errors import InputError

    bind = op.get_bind()
    bad = outside(bind)
    if bad:
        raise InputError("the team database holds values that the new CHECK constraints refuse: " + "; ".join(bad)
                         + ". Correct those rows (e.g. with sqlite3 or psql), then start again; nothing was changed",
                         bind.engine.url.render_as_string(hide_password=True))
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as t:
            for column, values in columns.items():
                t.create_check_constraint(f"ck_{table}_{column}", _sql(column, values))
    if bind.dialect.name == "sqlite":
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise InputError(f"rows refer to rows that do not exist ({broken[:5]}); nothing was changed",
                             bind.engine.url.render_as_string(hide_password=True))


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as t:
            for column in columns:
                t.drop_constraint(f"ck_{table}_{column}", type_="check")
