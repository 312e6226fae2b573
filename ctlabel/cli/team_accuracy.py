"""``ctlabel team accuracy PROJECT [--user U] [--threshold T|off] [--json]``: annotators' measured accuracy.

Per annotator and label: the combined Dice estimate with its 95% interval, then each source
(gold, agreement with other readers, review approvals) as n and mean; rows below the project's
threshold are flagged. A review decision applies to every label of the project, so the labels
measured only by reviews are one line per annotator (``*``; ``--json`` lists each).
``--threshold`` sets the threshold (the lead; ``off`` clears it).
docs/quality.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _fmt(mean: float | None, digits: int = 3) -> str:
    return "-" if mean is None else f"{mean:.{digits}f}"


def accuracy_rows(svc, user: str | None = None) -> tuple[float | None, list[dict]]:
    """The threshold and one JSON-ready row per annotator and label, worst estimate first."""
    from ctlabel.team import accuracy as team_accuracy

    limit = team_accuracy.threshold(svc)
    names = team_accuracy.label_names(svc)
    rows = []
    for acc in team_accuracy.worst_first(team_accuracy.annotator_accuracy(svc, user)):
        mean = acc.estimate.mean
        rows.append({**acc.as_json(), "name": names.get(acc.label, ""), "measured": team_accuracy.measured(acc),
                     "below": limit is not None and mean is not None and mean < limit})
    return limit, rows


def _line(r: dict) -> str:
    e, g, a, v = r["estimate"], r["gold"], r["agreement"], r["review"]
    est = "-" if e["mean"] is None else f"{e['mean']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"
    return (f"{r['annotator'][:16]:<16} {r['label']:>5} {r['name'][:14]:<14} {est:<22} "
            f"{g['n']:>6} {_fmt(g['mean']):>6}  {a['n']:>6} {_fmt(a['mean']):>6}  {v['n']:>6} {_fmt(v['mean']):>6}"
            + ("  BELOW" if r["below"] else ""))


def cmd_accuracy(args) -> int:
    """Show the annotators' accuracy, or set the threshold first."""
    from ctlabel.cli.common import out as _out
    from ctlabel.cli.common import team_service as _service
    from ctlabel.errors import InputError
    from ctlabel.team import accuracy as team_accuracy

    svc = _service(args)
    if args.threshold is not None:
        if args.threshold.lower() in ("off", "none"):
            value = None
        else:
            try:
                value = float(args.threshold)
            except ValueError:
                raise InputError(f"an accuracy threshold is a Dice in (0, 1] or 'off', not {args.threshold!r}",
                                 options=("threshold",)) from None
        team_accuracy.set_threshold(svc, value, by="lead (command line)")
    limit, rows = accuracy_rows(svc, args.user)
    head = (f"{'annotator':<16} {'label':>5} {'name':<14} {'estimate [95% interval]':<22} "
            f"{'gold n':>6} {'mean':>6}  {'agr n':>6} {'mean':>6}  {'rev n':>6} {'rate':>6}")
    measured = [r for r in rows if r["measured"]]
    review_only: dict[str, dict] = {}
    for r in rows:
        if not r["measured"]:
            review_only.setdefault(r["annotator"], {**r, "label": "*", "name": "(other labels)"})
    text = "\n".join([f"threshold: {'none (nothing is flagged)' if limit is None else f'{limit:g}'}", head,
                      *map(_line, measured), *map(_line, review_only.values())]) if rows else "no accuracy measured yet"
    below = [{"annotator": r["annotator"], "label": r["label"]} for r in rows if r["below"]]
    return _out(args, {"threshold": limit, "accuracy": rows, "below": below}, text)


def register(add: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    """Add ``team accuracy`` through the team parser's ``add``."""
    p = add("accuracy", cmd_accuracy, "annotators' measured accuracy per label: estimate, interval, each source; "
            "flags those below the project's threshold")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("--user", help="only this annotator")
    p.add_argument("--threshold", metavar="DICE|off", help="set the project's accuracy threshold first (a Dice in "
                   "(0, 1]; 'off' clears it): estimates below it are flagged and alerted on the dashboard")


__all__ = ["accuracy_rows", "cmd_accuracy", "register"]
