"""The first schema: projects, users, cases, assignments, events, uploads, rates.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("idle_limit_s", sa.Integer, nullable=False),
        sa.Column("open_limit", sa.Integer, nullable=False),
        sa.Column("lease_s", sa.Integer, nullable=False),
        sa.Column("upload_limit", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("created", TS, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created", TS, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("flagged", sa.Text, nullable=True),
        sa.Column("annotator_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True, index=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("reviewer_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True, index=True),
        sa.Column("review_lease_until", TS, nullable=True),
        sa.Column("head_sha256", sa.String(64), nullable=True),
        sa.Column("created", TS, nullable=False),
        sa.Column("updated", TS, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed", TS, nullable=False),
        sa.Column("ended", TS, nullable=True),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=True, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True, index=True),
        sa.Column("kind", sa.String(30), nullable=False, index=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("detail", sa.JSON, nullable=True),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("base_sha256", sa.String(64), nullable=False),
        sa.Column("voxel_sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "rates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False, unique=True),
        sa.Column("cents", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("rates", "uploads", "events", "assignments", "cases", "users", "projects"):
        op.drop_table(table)
