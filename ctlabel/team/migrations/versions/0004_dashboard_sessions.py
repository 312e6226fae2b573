"""Dashboard sessions: the lead's log-ins, by the SHA-256 of their random id, with their ends.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("id_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", TS, nullable=False),
        sa.Column("expires", TS, nullable=False, index=True),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("revoked", TS, nullable=True),
        sa.Column("revoked_why", sa.String(20), nullable=True),
        sa.CheckConstraint("revoked_why IN ('logout', 'token_rotated', 'token_revoked')",
                           name="ck_dashboard_sessions_why"),
        sa.CheckConstraint("(revoked IS NULL) = (revoked_why IS NULL)", name="ck_dashboard_sessions_revoked"),
        sa.CheckConstraint("expires > created", name="ck_dashboard_sessions_expires"),
    )


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
