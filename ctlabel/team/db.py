"""The team database: projects, users, cases, claims, events, uploads and rates.

SQLite by default (a file in the project folder, WAL, ``busy_timeout``; every transaction
``BEGIN IMMEDIATE`` so that claims are serialized), PostgreSQL with a
``postgresql+psycopg://`` URL (claims lock rows with ``FOR UPDATE SKIP LOCKED``). The schema
is made by the Alembic migrations in :mod:`ctlabel.team.migrations`; the models here mirror
them. The database never holds voxels: a case row names its folder relative to
``PROJECT/cases`` and mirrors the state of its ``case.json``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

ROLES = ("annotator", "reviewer", "lead")
RATE_KINDS = ("annotation", "review", "rework", "gold")  # gold: a scored gold serving (migration 0006)
PAY_STATUSES = ("closed", "paid")
#: Why a dashboard session was revoked (:mod:`ctlabel.team.sessions`).
SESSION_ENDS = ("logout", "token_rotated", "token_revoked")
#: The values the enum-like columns may hold (CHECK constraints, migration 0005): a case's state mirrors
#: ``case.json`` (:class:`ctlabel.model.CaseState`); claims, reads and uploads as the team code writes them.
CASE_STATES = ("in_progress", "submitted", "approved", "rejected", "accepted")  # accepted: by the review policy (0008)
ASSIGNMENT_KINDS = ("annotate", "review")
ASSIGNMENT_STATUSES = ("open", "done", "withdrawn", "expired", "flagged", "reassigned", "released")
FUSION_METHODS = ("staple", "vote")
#: The reads that hold their slot (the partial unique index): open or submitted.
STANDING_READ = "status IN ('open', 'submitted')"
#: A read's slot: 1, 2, ... (migration 0007; both bounds, as SQLite lets a text pass ``slot >= 1``)
READ_SLOT_CHECK = "slot >= 1 AND slot <= 64"
READ_STATUSES = ("open", "submitted", "done", "withdrawn", "expired", "released")
UPLOAD_KINDS = ("draft", "correction")


def one_of(table: str, column: str, values: tuple[str, ...]) -> CheckConstraint:
    """The CHECK constraint ``ck_<table>_<column>``: ``column`` holds one of ``values``."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=f"ck_{table}_{column}")


def utcnow() -> dt.datetime:
    """The current time, UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """The declarative base of the team database's tables (datetimes are stored timezone-aware)."""

    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


class Project(Base):
    """The one project a database serves, with its settings."""

    __tablename__ = "projects"
    __table_args__ = (one_of("projects", "fusion", FUSION_METHODS),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    idle_limit_s: Mapped[int] = mapped_column(Integer, default=60)
    open_limit: Mapped[int] = mapped_column(Integer, default=2)
    lease_s: Mapped[int] = mapped_column(Integer, default=4 * 3600)
    upload_limit: Mapped[int] = mapped_column(Integer, default=512 * 1024 * 1024)
    currency: Mapped[str] = mapped_column(String(8), default="EUR")
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    readers: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # 2 or more: reads per case
    fusion: Mapped[str] = mapped_column(String(10), default="staple", server_default="staple")  # FUSION_METHODS
    more_reads_below: Mapped[float | None] = mapped_column(Float, nullable=True)  # adaptive: lowest Dice of 2 reads
    gold_rate: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # claims served a gold case


class User(Base):
    """A person with a role; only the SHA-256 of their bearer token is stored."""

    __tablename__ = "users"
    __table_args__ = (one_of("users", "role", ROLES),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseRow(Base):
    """A case folder of the project: where it is, its state (mirror of case.json), who holds it."""

    __tablename__ = "cases"
    __table_args__ = (one_of("cases", "state", CASE_STATES),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(String(400))
    state: Mapped[str] = mapped_column(String(20), default="in_progress", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[str | None] = mapped_column(Text, nullable=True)
    annotator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    review_lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    head_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow)
    readers: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the project's, fixed at a claim
    readers_max: Mapped[int | None] = mapped_column(Integer, nullable=True)  # adaptive: the most reads it may get


class Assignment(Base):
    """A claim of a case by a person (annotate or review), with its lease and how it ended."""

    __tablename__ = "assignments"
    __table_args__ = (one_of("assignments", "kind", ASSIGNMENT_KINDS),
                      one_of("assignments", "status", ASSIGNMENT_STATUSES))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # ASSIGNMENT_KINDS
    status: Mapped[str] = mapped_column(String(20), default="open")  # ASSIGNMENT_STATUSES
    claimed: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Event(Base):
    """What somebody did (claim, upload, submit, approve, reject, ..., heartbeat), when."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Read(Base):
    """One reader's part of a case read several times: slot 1..N, their lease, their version when submitted.

    The standing reads of a case (open or submitted) hold distinct slots (``uq_reads_standing_slot``).
    """

    __tablename__ = "reads"
    __table_args__ = (CheckConstraint(READ_SLOT_CHECK, name="ck_reads_slot"), one_of("reads", "status", READ_STATUSES),
                      Index("uq_reads_standing_slot", "case_id", "slot", unique=True,
                            sqlite_where=text(STANDING_READ), postgresql_where=text(STANDING_READ)))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    version: Mapped[str | None] = mapped_column(String(20), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    claimed: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Agreement(Base):
    """The agreement of the two reads of a case, per label (``ctlabel.measure.compare``), when both are in."""

    __tablename__ = "agreements"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version_a: Mapped[str] = mapped_column(String(20))
    version_b: Mapped[str] = mapped_column(String(20))
    label: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), default="")
    dice: Mapped[float] = mapped_column(Float)
    hd95_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    volume_a_ml: Mapped[float] = mapped_column(Float)
    volume_b_ml: Mapped[float] = mapped_column(Float)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Upload(Base):
    """An accepted upload: which case, by whom, the voxel hash it replaced and the new one."""

    __tablename__ = "uploads"
    __table_args__ = (one_of("uploads", "kind", UPLOAD_KINDS),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))  # draft | correction
    base_sha256: Mapped[str] = mapped_column(String(64))
    voxel_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Rate(Base):
    """What one item pays (in cents): annotation, review, rework (per resubmission)."""

    __tablename__ = "rates"
    __table_args__ = (one_of("rates", "kind", RATE_KINDS),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), unique=True)
    cents: Mapped[int] = mapped_column(Integer, default=0)


class PayPeriod(Base):
    """A pay period the lead closed: its days (inclusive, the project's time zone), frozen as closed.

    ``first_day`` is None for the first period (everything before ``last_day``). ``rates_cents``,
    ``time_zone`` and ``idle_limit_s`` are those of the close; the lines never change afterwards.
    """

    __tablename__ = "pay_periods"
    __table_args__ = (
        CheckConstraint("status IN ('closed', 'paid')", name="ck_pay_periods_status"),
        CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name="ck_pay_periods_paid_at"),
        CheckConstraint("first_day IS NULL OR first_day <= last_day", name="ck_pay_periods_days"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)  # 1, 2, ... in order: two closes cannot both win
    first_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    last_day: Mapped[dt.date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(10), default="closed")  # PAY_STATUSES
    closed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_by: Mapped[str] = mapped_column(String(100))
    paid_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    currency: Mapped[str] = mapped_column(String(8))
    time_zone: Mapped[str] = mapped_column(String(64))
    idle_limit_s: Mapped[int] = mapped_column(Integer)
    rates_cents: Mapped[dict] = mapped_column(JSON)


class PayLine(Base):
    """One person's part of a closed pay period: the report's row for its days, frozen at the close."""

    __tablename__ = "pay_lines"
    __table_args__ = (
        UniqueConstraint("period_id", "user_id", name="uq_pay_lines_period_user"),
        CheckConstraint("role IN ('annotator', 'reviewer', 'lead')", name="ck_pay_lines_role"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("pay_periods.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    submitted: Mapped[int] = mapped_column(Integer)
    resubmitted: Mapped[int] = mapped_column(Integer)
    approved: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    reviews: Mapped[int] = mapped_column(Integer)
    # one column per paid item kind (RATE_KINDS, pay.ITEM_COLUMNS)
    annotation_items: Mapped[int] = mapped_column(Integer)
    review_items: Mapped[int] = mapped_column(Integer)
    rework_items: Mapped[int] = mapped_column(Integer)
    gold_items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active_seconds: Mapped[float] = mapped_column(Float)
    owed_cents: Mapped[int] = mapped_column(Integer)


class DashboardSession(Base):
    """A log-in to the lead's dashboard: only the SHA-256 of its random id (the cookie) is stored.

    It lasts until ``expires`` (absolute), while used within the server's idle limit
    (``last_seen``), and until revoked (``revoked``, ``revoked_why``: :data:`SESSION_ENDS`).
    """

    __tablename__ = "dashboard_sessions"
    __table_args__ = (
        CheckConstraint("revoked_why IN ('logout', 'token_rotated', 'token_revoked')",
                        name="ck_dashboard_sessions_why"),
        CheckConstraint("(revoked IS NULL) = (revoked_why IS NULL)", name="ck_dashboard_sessions_revoked"),
        CheckConstraint("expires > created", name="ck_dashboard_sessions_expires"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column(index=True)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    revoked_why: Mapped[str | None] = mapped_column(String(20), nullable=True)  # SESSION_ENDS


def default_url(project: str | Path) -> str:
    """The SQLite database in the project folder."""
    return f"sqlite:///{Path(project).resolve() / 'team.db'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and immediate transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:
            # reads (read_only_engine) take no write lock; everything else is one writer at a time
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("ctlabel_read_only") else
                                 "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def read_only_engine(engine: Engine) -> Engine:
    """The engine for sessions that only read.

    SQLite begins them deferred (no write lock), PostgreSQL runs them in autocommit (no
    ``BEGIN``/``COMMIT`` round trips).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`make_engine`.

    Returns
    -------
    sqlalchemy.engine.Engine
        The same pool, with those execution options.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(ctlabel_read_only=True)
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """The session factory of an engine (objects stay readable after a commit).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`make_engine`.

    Returns
    -------
    sqlalchemy.orm.sessionmaker
    """
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url_or_engine: str | Engine) -> None:
    """Bring the schema up to the newest Alembic revision (creates it on an empty database)."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    with engine.connect() as conn:
        # SQLite rebuilds a table to add a constraint (batch mode): the rows of other tables that refer to it
        # would fail while it is dropped. Foreign keys can only be turned off outside a transaction; each
        # migration that rebuilds checks them (PRAGMA foreign_key_check) before its transaction commits.
        raw = conn.connection.dbapi_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
    if isinstance(url_or_engine, str):
        engine.dispose()


__all__ = ["ASSIGNMENT_KINDS", "ASSIGNMENT_STATUSES", "CASE_STATES", "PAY_STATUSES", "FUSION_METHODS",
           "READ_SLOT_CHECK", "READ_STATUSES",
           "ROLES", "RATE_KINDS", "SESSION_ENDS", "UPLOAD_KINDS", "Agreement", "Assignment", "Base", "CaseRow",
           "DashboardSession", "Event", "PayLine",
           "PayPeriod", "Project", "Rate", "Read", "Upload", "User",
           "default_url", "make_engine", "make_sessionmaker", "migrate", "one_of", "read_only_engine", "utcnow"]
