"""Pay periods: what the lead closed (the days, the rates of the day) and each person's frozen line.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pay_periods",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("first_day", sa.Date, nullable=True),
        sa.Column("last_day", sa.Date, nullable=False, unique=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("closed_at", TS, nullable=False),
        sa.Column("closed_by", sa.String(100), nullable=False),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("idle_limit_s", sa.Integer, nullable=False),
        sa.Column("rates_cents", sa.JSON, nullable=False),
        sa.CheckConstraint("status IN ('closed', 'paid')", name="ck_pay_periods_status"),
        sa.CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name="ck_pay_periods_paid_at"),
        sa.CheckConstraint("first_day IS NULL OR first_day <= last_day", name="ck_pay_periods_days"),
    )
    op.create_table(
        "pay_lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("period_id", sa.Integer, sa.ForeignKey("pay_periods.id"), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("submitted", sa.Integer, nullable=False),
        sa.Column("resubmitted", sa.Integer, nullable=False),
        sa.Column("approved", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("reviews", sa.Integer, nullable=False),
        sa.Column("annotation_items", sa.Integer, nullable=False),
        sa.Column("review_items", sa.Integer, nullable=False),
        sa.Column("rework_items", sa.Integer, nullable=False),
        sa.Column("active_seconds", sa.Float, nullable=False),
        sa.Column("owed_cents", sa.Integer, nullable=False),
        sa.UniqueConstraint("period_id", "user_id", name="uq_pay_lines_period_user"),
        sa.CheckConstraint("role IN ('annotator', 'reviewer', 'lead')", name="ck_pay_lines_role"),
    )


def downgrade() -> None:
    op.drop_table("pay_lines")
    op.drop_table("pay_periods")
