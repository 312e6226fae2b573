"""Reads by N readers: integer slots (A -> 1, B -> 2) unique per case, fusion and adaptive reading settings.

* ``reads.slot`` becomes an integer (``A`` -> 1, ``B`` -> 2; CHECK 1..64), and the standing reads
  of a case (open or submitted) hold distinct slots: the partial unique index ``uq_reads_standing_slot``.
  A database whose standing reads share a slot is refused with the cases to correct; nothing changes.
* ``projects.fusion``: how the reads are fused (``staple`` or ``vote``); ``projects.more_reads_below``:
  adaptive reading, the lowest per-label Dice of the first two reads under which a case gets more reads.
* ``cases.readers_max``: the most reads an adaptive case may get (null: ``readers``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STANDING = "status IN ('open', 'submitted')"
#: A slot is a number 1..64 (both bounds: SQLite would let a text 'C' pass ``slot >= 1`` alone)
SLOT_CHECK = "slot >= 1 AND slot <= 64"


def upgrade() -> None:
    from ctlabel.errors import InputError

    bind = op.get_bind()
    clash = bind.execute(sa.text(f"SELECT case_id, slot, COUNT(*) FROM reads WHERE {STANDING} "
                                 "GROUP BY case_id, slot HAVING COUNT(*) > 1 ORDER BY case_id")).all()
    if clash:
        raise InputError("standing reads share a slot (case id, slot, reads): "
                         + "; ".join(f"{c}, {s}, {n}" for c, s, n in clash)
                         + ". Mark all but one of each as expired, then start again; nothing was changed",
                         bind.engine.url.render_as_string(hide_password=True))
    with op.batch_alter_table("reads") as t:
        t.add_column(sa.Column("slot_n", sa.Integer, nullable=True))
    bind.execute(sa.text("UPDATE reads SET slot_n = CASE slot WHEN 'A' THEN 1 WHEN 'B' THEN 2 END"))
    with op.batch_alter_table("reads") as t:
        t.drop_constraint("ck_reads_slot", type_="check")
        t.drop_column("slot")
    with op.batch_alter_table("reads") as t:
        t.alter_column("slot_n", new_column_name="slot", existing_type=sa.Integer, nullable=False)
        t.create_check_constraint("ck_reads_slot", SLOT_CHECK)
    op.create_index("uq_reads_standing_slot", "reads", ["case_id", "slot"], unique=True,
                    sqlite_where=sa.text(STANDING), postgresql_where=sa.text(STANDING))
    with op.batch_alter_table("projects") as t:
        t.add_column(sa.Column("fusion", sa.String(10), nullable=False, server_default="staple"))
        t.add_column(sa.Column("more_reads_below", sa.Float, nullable=True))
        t.create_check_constraint("ck_projects_fusion", "fusion IN ('staple', 'vote')")
    with op.batch_alter_table("cases") as t:
        t.add_column(sa.Column("readers_max", sa.Integer, nullable=True))
    if bind.dialect.name == "sqlite":
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise InputError(f"rows refer to rows that do not exist ({broken[:5]}); nothing was changed",
                             bind.engine.url.render_as_string(hide_password=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as t:
        t.drop_column("readers_max")
    with op.batch_alter_table("projects") as t:
        t.drop_constraint("ck_projects_fusion", type_="check")
        t.drop_column("more_reads_below")
        t.drop_column("fusion")
    op.drop_index("uq_reads_standing_slot", "reads")
    with op.batch_alter_table("reads") as t:
        t.add_column(sa.Column("slot_a", sa.String(1), nullable=True))
    op.get_bind().execute(sa.text("UPDATE reads SET slot_a = CASE slot WHEN 1 THEN 'A' ELSE 'B' END"))
    with op.batch_alter_table("reads") as t:
        t.drop_constraint("ck_reads_slot", type_="check")
        t.drop_column("slot")
    with op.batch_alter_table("reads") as t:
        t.alter_column("slot_a", new_column_name="slot", existing_type=sa.String(1), nullable=False)
        t.create_check_constraint("ck_reads_slot", "slot IN ('A', 'B')")
