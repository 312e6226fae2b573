"""The answers of the team API about work and pay, and the lead's: reports, pay periods, rates, users.

See :mod:`ctlabel.team.api_models` (the case answers) for how the models are used.
"""

from __future__ import annotations

from pydantic import Field, RootModel

from ctlabel.team.api_models import Answer


class PersonLine(Answer):
    """One person's line of a report (:func:`ctlabel.team.report.people`)."""

    user: str
    role: str
    submitted: int
    resubmitted: int
    uploads: int | None = Field(None, description="uploads counted (the live report; a closed period has none)")
    approved: int
    rejected: int
    reviews: int
    items: dict[str, int] = Field(description="paid items per kind: annotation, review, rework")
    active_seconds: float
    owed_cents: int


class ReportHead(Answer):
    """What a report covers: the project, the days, the currency, the idle limit and the rates."""

    project: str
    time_zone: str
    since: str | None = Field(description="first day (YYYY-MM-DD), null: from the start")
    until: str | None = Field(description="last day (YYYY-MM-DD), null: up to now")
    currency: str
    idle_limit_s: int
    rates_cents: dict[str, int]


class Report(ReportHead):
    """The work, time and pay report of everybody over a period (:func:`ctlabel.team.report.report`)."""

    people: list[PersonLine]


class MyStats(ReportHead):
    """The caller's own line of the report (null when they did nothing in the period)."""

    me: PersonLine | None


class PeriodInfo(Answer):
    """A closed pay period (:class:`ctlabel.team.pay.PeriodInfo`)."""

    number: int
    first_day: str | None = Field(description="null: from the start of the project")
    last_day: str
    status: str = Field(description="closed or paid")
    closed_at: str
    closed_by: str
    paid_at: str | None
    currency: str
    owed_cents: int
    people: int


class PeriodReport(Report):
    """A closed period as the report of its days, frozen at the close."""

    period: PeriodInfo


class PaySummary(Answer):
    """Paid, unpaid (closed) and open work in cents, and the closed periods."""

    currency: str
    paid_cents: int
    unpaid_cents: int
    open_cents: int
    owed_cents: int = Field(description="unpaid plus open")
    open_since: str | None = Field(description="the first day of the open work; null: from the start")
    periods: list[PeriodInfo]


class Rates(RootModel[dict[str, int]]):
    """What an item pays, in cents, per kind (annotation, review, rework)."""


class GuidelinesStored(Answer):
    """Guidelines replaced."""

    ok: bool
    size: int = Field(description="bytes stored")


class NewUser(Answer):
    """A user added; their token is shown once."""

    user: str
    role: str
    token: str


class NewToken(Answer):
    """A user's new token, shown once."""

    user: str
    token: str


class Released(Answer):
    """A claim ended when its holder was revoked."""

    case: str
    lease: str = Field(description="annotate, read or review")


class Revoked(Answer):
    """A user revoked and the claims they held released."""

    user: str
    revoked: bool
    released: list[Released]


__all__ = ["GuidelinesStored", "MyStats", "NewToken", "NewUser", "PaySummary", "PeriodInfo", "PeriodReport",
           "PersonLine", "Rates", "Released", "Report", "ReportHead", "Revoked"]
