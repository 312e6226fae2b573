"""Gold-standard cases: the gold cases, their servings and scores; the gold rate of claims; gold pay.

* ``gold_cases``: an approved case marked gold and its reference version (``ctlabel.team.gold``);
* ``gold_servings``: each serving of a gold case to one annotator (a case row of its own), unique
  per gold and annotator (nobody gets the same gold twice);
* ``gold_scores``: the serving's figures per label against the reference;
* ``projects.gold_rate``: the share of claims served a gold case (0: none);
* ``rates.kind`` may be ``gold`` (what a scored serving pays; unset: the annotation rate), and
  ``pay_lines.gold_items`` freezes the gold items of a closed pay period.

SQLite rebuilds ``rates`` to change its CHECK constraint (batch mode, as in 0005).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
#: table -> column -> the values it may hold from this revision on (0005's lists, changed)
CHECKS: dict[str, dict[str, tuple[str, ...]]] = {"rates": {"kind": ("annotation", "review", "rework", "gold")}}
_BEFORE: dict[str, dict[str, tuple[str, ...]]] = {"rates": {"kind": ("annotation", "review", "rework")}}


def _sql(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _checks(checks: dict[str, dict[str, tuple[str, ...]]]) -> None:
    for table, columns in checks.items():
        with op.batch_alter_table(table) as t:
            for column, values in columns.items():
                t.drop_constraint(f"ck_{table}_{column}", type_="check")
                t.create_check_constraint(f"ck_{table}_{column}", _sql(column, values))


def upgrade() -> None:
    op.create_table(
        "gold_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, unique=True),
        sa.Column("version", sa.String(20), nullable=False),
        sa.Column("voxel_sha256", sa.String(64), nullable=True),
        sa.Column("author", sa.String(100), nullable=True),
        sa.Column("approver", sa.String(100), nullable=True),
        sa.Column("added", TS, nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("removed", TS, nullable=True),
    )
    op.create_table(
        "gold_servings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("gold_id", sa.Integer, sa.ForeignKey("gold_cases.id"), nullable=False, index=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("served", TS, nullable=False),
        sa.Column("version", sa.String(20), nullable=True),
        sa.Column("submitted", TS, nullable=True),
        sa.Column("scored", TS, nullable=True),
        sa.UniqueConstraint("gold_id", "user_id", name="uq_gold_servings_gold_user"),
    )
    op.create_table(
        "gold_scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("serving_id", sa.Integer, sa.ForeignKey("gold_servings.id"), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("label", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("dice", sa.Float, nullable=False),
        sa.Column("hd95_mm", sa.Float, nullable=True),
        sa.Column("volume_ref_ml", sa.Float, nullable=False),
        sa.Column("volume_ml", sa.Float, nullable=False),
        sa.Column("at", TS, nullable=False, index=True),
    )
    with op.batch_alter_table("projects") as t:
        t.add_column(sa.Column("gold_rate", sa.Float, nullable=False, server_default="0"))
    with op.batch_alter_table("pay_lines") as t:
        t.add_column(sa.Column("gold_items", sa.Integer, nullable=False, server_default="0"))
    _checks(CHECKS)


def downgrade() -> None:
    _checks(_BEFORE)
    with op.batch_alter_table("pay_lines") as t:
        t.drop_column("gold_items")
    with op.batch_alter_table("projects") as t:
        t.drop_column("gold_rate")
    op.drop_table("gold_scores")
    op.drop_table("gold_servings")
    op.drop_table("gold_cases")
