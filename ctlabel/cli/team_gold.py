"""``ctlabel team gold``: gold-standard cases on the command line (the lead, on the project folder).

``gold add PROJECT CASE...`` marks approved cases as gold (their approved version is the
reference), ``gold remove PROJECT CASE...`` stops serving them (servings and scores stay),
``gold list PROJECT`` shows them, ``gold rate PROJECT [SHARE]`` shows or sets the share of claims
that are served a gold case, ``gold scores PROJECT [--user U]`` the annotators' figures per label.
docs/quality.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def cmd_gold(args) -> int:
    """Run one ``team gold`` action."""
    from ctlabel.cli.common import out as _out
    from ctlabel.cli.common import team_service as _service
    from ctlabel.errors import InputError

    svc = _service(args)
    if args.action in ("add", "remove") and not args.cases:
        raise InputError(f"gold {args.action} needs the case ids")
    if args.action == "add":
        added = svc.gold.add(args.cases, by="lead (command line)")
        return _out(args, {"added": added}, "\n".join(
            f"gold: {g['case']} (reference {g['version']}, made by {g['author']}, approved by {g['approver']})"
            for g in added))
    if args.action == "remove":
        gone = svc.gold.remove(args.cases, by="lead (command line)")
        return _out(args, {"removed": gone}, "\n".join(f"no longer gold: {c}" for c in gone))
    if args.action == "rate":
        if args.cases:
            try:
                share = float(args.cases[0])
            except ValueError:
                raise InputError(f"the gold rate is a share of claims from 0 to 1, not {args.cases[0]!r}") from None
            rate = svc.gold.set_rate(share)
        else:
            rate = svc.gold.rate()
        return _out(args, {"rate": rate}, f"{rate:g} of the claims are served a gold case" if rate else
                    "no gold case is served (rate 0)")
    if args.action == "scores":
        from ctlabel.team.gold_scores import gold_summary

        rows = gold_summary(svc, user=args.user)
        lines = [f"{r['user']:<16} {r['label']:>5} {r['name'][:16]:<16} n {r['n']:>3}  dice {r['mean_dice']:.3f} "
                 f"(lowest {r['min_dice']:.3f})  hd95 {'-' if r['mean_hd95_mm'] is None else r['mean_hd95_mm']} mm"
                 for r in rows]
        return _out(args, {"scores": rows}, "\n".join(lines) or "no gold case scored yet")
    cases = svc.gold.cases()
    lines = [f"{g['case']}  {g['version']}  by {g['author']}, approved by {g['approver']}; served {g['servings']}, "
             f"scored {g['scored']}" + ("" if g["mean_dice"] is None else f", mean Dice {g['mean_dice']:.3f}")
             for g in cases]
    return _out(args, {"gold": cases, "rate": svc.gold.rate()}, "\n".join(lines) or "no gold case")


def register(add: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    """Add ``team gold`` through the team parser's ``add``."""
    p = add("gold", cmd_gold, "gold-standard cases: add, remove, list, the rate they are served at, the scores")
    p.add_argument("action", choices=("add", "remove", "list", "rate", "scores"),
                   help="mark approved cases as gold, stop serving them, list them, show or set the share of "
                        "claims served one, or show the annotators' scores")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("cases", nargs="*", metavar="CASE|SHARE", help="case ids (add, remove); the share of claims from "
                   "0 to 1 (rate, e.g. 0.05; none: show it)")
    p.add_argument("--user", help="scores: only this annotator")


__all__ = ["cmd_gold", "register"]
