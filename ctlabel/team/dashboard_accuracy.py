"""The lead's accuracy page on the dashboard: ``GET /accuracy`` and its forms (lead only, CSRF-checked).

``POST /accuracy/threshold`` (``threshold``: a Dice in (0, 1], empty or ``off`` clears it),
``/accuracy/gold/add`` and ``/accuracy/gold/remove`` (``cases``: ids separated by spaces or commas;
:meth:`ctlabel.team.gold.Gold.add` / ``remove``, as ``ctlabel team gold add|remove`` runs them),
``/accuracy/gold/rate`` (``rate``: :meth:`~ctlabel.team.gold.Gold.set_rate`). A refusal comes
back on the page with its reason; a request with the bearer header gets the text (and the refusal's status).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctlabel.errors import CtlabelError
from ctlabel.team import accuracy as team_accuracy
from ctlabel.team.console_accuracy import accuracy_body
from ctlabel.team.dashboard_session import Lead, Session, checked_form
from ctlabel.team.errors import Invalid, TeamError

router = APIRouter(include_in_schema=False)


@router.get("/accuracy", response_class=HTMLResponse)
async def accuracy_page(s: Lead, msg: str = "", err: str = "") -> Response:
    return s.page("Accuracy", await run_in_threadpool(accuracy_body, s.svc, s.csrf, msg[:500], err[:500]))


def _number(text: str, what: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise Invalid(f"{what}, not {text[:40]!r}", options=(option,)) from None


def _cases(form: dict[str, str]) -> list[str]:
    names = [n for n in re.split(r"[\s,]+", form.get("cases", "")) if n]
    if not names:
        raise Invalid("give the case ids", options=("cases",))
    return names


async def _act(request: Request, s: Session, fn: Callable[[dict[str, str]], str]) -> Response:
    form = await checked_form(request, s)
    status = 200
    try:
        query = {"msg": await run_in_threadpool(fn, form)}
    except CtlabelError as exc:
        query, status = {"err": str(getattr(exc, "reason", exc))}, exc.status if isinstance(exc, TeamError) else 422
    if request.headers.get("authorization"):
        return Response(query.get("msg") or query["err"], status, media_type="text/plain")
    return RedirectResponse(f"/accuracy?{urlencode(query)}", 303)


def _threshold(s: Session, form: dict[str, str]) -> str:
    text = form.get("threshold", "").strip()
    value = None if text.lower() in ("", "off", "none") else _number(
        text, "an accuracy threshold is a Dice in (0, 1] or 'off'", "threshold")
    now = team_accuracy.set_threshold(s.svc, value, by=s.user.name)
    return "threshold cleared: nothing is flagged" if now is None else f"threshold set to {now:g}"


@router.post("/accuracy/threshold")
async def set_threshold(request: Request, s: Lead) -> Response:
    return await _act(request, s, lambda f: _threshold(s, f))


@router.post("/accuracy/gold/add")
async def gold_add(request: Request, s: Lead) -> Response:
    def add(form: dict[str, str]) -> str:
        added = s.svc.gold.add(_cases(form), by=s.user.name)
        return "gold: " + ", ".join(f"{g['case']} (reference {g['version']})" for g in added)
    return await _act(request, s, add)


@router.post("/accuracy/gold/remove")
async def gold_remove(request: Request, s: Lead) -> Response:
    def remove(form: dict[str, str]) -> str:
        return "no longer gold: " + ", ".join(s.svc.gold.remove(_cases(form), by=s.user.name))
    return await _act(request, s, remove)


@router.post("/accuracy/gold/rate")
async def gold_rate(request: Request, s: Lead) -> Response:
    def rate(form: dict[str, str]) -> str:
        value = s.svc.gold.set_rate(_number(form.get("rate", "").strip(), "the gold rate is a share of claims from "
                                                                           "0 to 1", "rate"))
        return f"gold rate set to {value:g}"
    return await _act(request, s, rate)


__all__ = ["router"]
