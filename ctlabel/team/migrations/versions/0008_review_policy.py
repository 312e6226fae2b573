"""Review where it is needed: a project's review policy, and the case state ``accepted``.

* ``review_policies``: one row per project (``ctlabel.team.policy``): on or off, the gold cases
  needed since the last failure, the accuracy's lower bound needed, the share of a trusted
  annotator's submissions still reviewed, the Dice under which a gold case fails. No row: off.
* ``cases.state`` may be ``accepted`` (accepted by the policy without a reviewer; ``case.json``'s
  state, mirrored). SQLite rebuilds ``cases`` to change its CHECK constraint (batch mode, as in 0005).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
STATES = ("in_progress", "submitted", "approved", "rejected", "accepted")
_BEFORE = ("in_progress", "submitted", "approved", "rejected")


def _state_check(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("cases") as t:
        t.drop_constraint("ck_cases_state", type_="check")
        t.create_check_constraint("ck_cases_state", f"state IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    op.create_table(
        "review_policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("min_gold", sa.Integer, nullable=False),
        sa.Column("min_accuracy", sa.Float, nullable=False),
        sa.Column("review_rate", sa.Float, nullable=False),
        sa.Column("fail_below", sa.Float, nullable=False),
        sa.Column("updated", TS, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
    )
    _state_check(STATES)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        from ctlabel.errors import InputError

        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise InputError(f"rows refer to rows that do not exist ({broken[:5]}); nothing was changed",
                             bind.engine.url.render_as_string(hide_password=True))


def downgrade() -> None:
    from ctlabel.errors import InputError

    bind = op.get_bind()
    n = bind.execute(sa.text("SELECT COUNT(*) FROM cases WHERE state = 'accepted'")).scalar()
    if n:
        raise InputError(f"{n} case(s) are accepted by the review policy; a reviewer decides them first",
                         bind.engine.url.render_as_string(hide_password=True))
    _state_check(_BEFORE)
    op.drop_table("review_policies")
