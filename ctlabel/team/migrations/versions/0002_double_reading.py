"""Double reading: the project's readers per case, a case's own, the reads and their agreement.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("projects") as t:
        t.add_column(sa.Column("readers", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("cases") as t:
        t.add_column(sa.Column("readers", sa.Integer, nullable=True))
    op.create_table(
        "reads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("slot", sa.String(1), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("version", sa.String(20), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("claimed", TS, nullable=False),
    )
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("version_a", sa.String(20), nullable=False),
        sa.Column("version_b", sa.String(20), nullable=False),
        sa.Column("label", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("dice", sa.Float, nullable=False),
        sa.Column("hd95_mm", sa.Float, nullable=True),
        sa.Column("volume_a_ml", sa.Float, nullable=False),
        sa.Column("volume_b_ml", sa.Float, nullable=False),
        sa.Column("at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agreements")
    op.drop_table("reads")
    with op.batch_alter_table("cases") as t:
        t.drop_column("readers")
    with op.batch_alter_table("projects") as t:
        t.drop_column("readers")
