"""The lead's routes of the team API: guidelines, the report, pay periods, rates and users."""

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from ctlabel.errors import InputError
from ctlabel.team import admin, pay
from ctlabel.team import report as reporting
from ctlabel.team.api_deps import Lead, Svc
from ctlabel.team.api_models_lead import (
    GuidelinesStored,
    NewToken,
    NewUser,
    PaySummary,
    PeriodInfo,
    PeriodReport,
    Rates,
    Report,
    Revoked,
)

router = APIRouter()


class UserBody(BaseModel):
    """A user to add."""

    name: str
    role: str


class RatesBody(BaseModel):
    """Rates to set, in cents (None: unchanged), and the currency."""

    annotation: int | None = None
    review: int | None = None
    rework: int | None = None
    currency: str | None = None


@router.put("/guidelines", response_model=GuidelinesStored)
async def put_guidelines(request: Request, user: Lead, svc: Svc) -> dict:
    """Replace the guidelines (UTF-8 Markdown, at most 1 MiB)."""
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("guidelines are UTF-8 Markdown") from None
    await run_in_threadpool(admin.set_guidelines, svc, text, user)
    return {"ok": True, "size": len(body)}


@router.get("/report", response_model=Report, response_model_exclude_unset=True)
def get_report(user: Lead, svc: Svc, since: str | None = None, until: str | None = None) -> dict:
    """The work, time and pay report of everybody over a period."""
    return reporting.report(svc, since, until)


class CloseBody(BaseModel):
    """The last day of the pay period to close (YYYY-MM-DD, the project's time zone)."""

    until: str


@router.get("/pay", response_model=PaySummary)
def get_pay(user: Lead, svc: Svc) -> dict:
    """Paid, unpaid, open and owed in all (cents), and the closed pay periods."""
    return pay.summary(svc).as_dict()


@router.post("/pay/close", response_model=PeriodInfo)
def close_pay(body: CloseBody, user: Lead, svc: Svc) -> dict:
    """Close the days after the last pay period up to ``until`` (409: not over, or already closed)."""
    return pay.close_period(svc, body.until, user.name).as_dict()


@router.get("/pay/{number}", response_model=PeriodReport, response_model_exclude_unset=True)
def get_period(number: int, user: Lead, svc: Svc) -> dict:
    """A closed period as the report of its days, frozen at the close (``period``: its facts)."""
    return pay.period_report(svc, number)


@router.get("/pay/{number}/csv", response_class=PlainTextResponse)
def get_period_csv(number: int, user: Lead, svc: Svc) -> PlainTextResponse:
    """A closed period as CSV: ``ctlabel team report --csv`` of its days at the close."""
    return PlainTextResponse(reporting.to_csv(pay.period_report(svc, number)), media_type="text/csv")


@router.post("/pay/{number}/paid", response_model=PeriodInfo)
def period_paid(number: int, user: Lead, svc: Svc) -> dict:
    """Record that a closed period was paid (409 the second time)."""
    return pay.mark_paid(svc, number).as_dict()


@router.get("/rates", response_model=Rates)
def get_rates(user: Lead, svc: Svc) -> dict:
    """What an item pays, in cents."""
    return admin.rates(svc)


@router.put("/rates", response_model=Rates)
def put_rates(body: RatesBody, user: Lead, svc: Svc) -> dict:
    """Set what an item pays, in cents, and the currency."""
    cents = {k: v for k, v in body.model_dump().items() if k != "currency" and v is not None}
    return admin.set_rates(svc, cents, body.currency)


@router.post("/users", response_model=NewUser)
def add_user(body: UserBody, user: Lead, svc: Svc) -> dict:
    """Add a user with a role; the answer holds their token, shown once."""
    return {"user": body.name, "role": body.role, "token": admin.add_user(svc, body.name, body.role)}


@router.post("/users/{name}/rotate", response_model=NewToken)
def rotate(name: str, user: Lead, svc: Svc) -> dict:
    """Give a user a new token (the old one stops working)."""
    return {"user": name, "token": admin.rotate(svc, name)}


@router.post("/users/{name}/revoke", response_model=Revoked)
def revoke(name: str, user: Lead, svc: Svc) -> dict:
    """Revoke a user's token; the cases they hold go back to the pool (``released``; drafts kept)."""
    return admin.revoke(svc, name, by=user)


__all__ = ["router"]
