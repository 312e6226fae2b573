"""``ctlabel team pay ...``: pay periods, on the project folder (the lead).

``pay close PROJECT --until D`` freezes the pay of the days after the last closed period up to
D; ``pay list PROJECT`` shows the periods and what is paid, unpaid and open; ``pay show
PROJECT N [--csv]`` one period (the CSV is ``team report --csv`` of its days, as closed);
``pay mark-paid PROJECT N`` records the payment. See :mod:`ctlabel.team.pay`.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable

from ctlabel.progress import duration_text


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency}"


def _period_line(p, currency: str) -> str:
    days = f"{p.first_day or 'start'} .. {p.last_day}"
    paid = f"paid {p.paid_at:%Y-%m-%d}" if p.paid_at else "unpaid"
    return f"{p.number:>4}  {days:<24} {p.people:>3} people  {_money(p.owed_cents, currency):>14}  {paid}"


def cmd_pay(args) -> int:
    """close, list, show, mark-paid."""
    from ctlabel.cli.common import out as _out
    from ctlabel.cli.common import team_service as _service
    from ctlabel.team import pay
    from ctlabel.team.report import to_csv

    svc = _service(args)
    if args.action == "close":
        p = pay.close_period(svc, args.until, args.by or getpass.getuser())
        return _out(args, p.as_dict(), f"pay period {p.number} closed: {p.first_day or 'start'} .. {p.last_day}, "
                    f"{p.people} people, {_money(p.owed_cents, p.currency)}")
    if args.action == "list":
        s = pay.summary(svc)
        data = s.as_dict()
        lines = [_period_line(p, s.currency) for p in s.periods] or ["no pay period closed yet"]
        lines += [f"open (from {s.open_since or 'the start'}): {_money(s.open_cents, s.currency)}",
                  f"paid {_money(s.paid_cents, s.currency)}, unpaid {_money(s.unpaid_cents, s.currency)}, "
                  f"owed in all (unpaid and open) {_money(s.owed_cents, s.currency)}"]
        return _out(args, data, "\n".join(lines))
    if args.action == "mark-paid":
        p = pay.mark_paid(svc, args.period)
        return _out(args, p.as_dict(), f"pay period {p.number} marked paid ({_money(p.owed_cents, p.currency)})")
    rep = pay.period_report(svc, args.period)
    if args.csv:
        print(to_csv(rep), end="")
        return 0
    per = rep["period"]
    lines = [f"pay period {per['number']}: {rep['since'] or 'start'} .. {rep['until']} ({rep['time_zone']}), "
             f"{per['status']}, closed {per['closed_at'][:16]} by {per['closed_by']}",
             f"{'user':<16} {'role':<10} {'appr':>5} {'revs':>5} {'active':>12} owed"]
    for p in rep["people"]:
        lines.append(f"{p['user']:<16} {p['role']:<10} {p['approved']:>5} {p['reviews']:>5} "
                     f"{duration_text(p['active_seconds']):>12} {_money(p['owed_cents'], rep['currency'])}")
    return _out(args, rep, "\n".join(lines))


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``pay`` to ``ctlabel team`` (``add(name, fn, help)`` of :mod:`ctlabel.cli.team`)."""
    p = add("pay", cmd_pay, "lead: pay periods (close, list, show, mark-paid)")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = sub.add_parser("close", help="freeze the pay of the days after the last period up to --until")
    c.add_argument("project", metavar="PROJECT", help="the team project folder")
    c.add_argument("--until", required=True, metavar="YYYY-MM-DD",
                   help="the period's last day (inclusive, the project's time zone; a day that is over)")
    c.add_argument("--by", help="who closes it (recorded; default: your login name)")
    c = sub.add_parser("list", help="the periods; paid, unpaid and open amounts")
    c.add_argument("project", metavar="PROJECT", help="the team project folder")
    for action, hlp in (("show", "one period: each person's items, time and pay as closed"),
                        ("mark-paid", "record that a closed period was paid")):
        c = sub.add_parser(action, help=hlp)
        c.add_argument("project", metavar="PROJECT", help="the team project folder")
        c.add_argument("period", type=int, metavar="PERIOD", help="the period's number (pay list)")
        if action == "show":
            c.add_argument("--csv", action="store_true", help="as CSV: the columns of ctlabel team report --csv")
    for c in sub.choices.values():
        c.add_argument("--json", action="store_true", help="print the result as JSON")


__all__ = ["cmd_pay", "register"]
