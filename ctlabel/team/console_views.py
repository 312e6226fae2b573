"""HTML of the lead's console: the progress bar, stage counts, forecast, review queue, alerts, people.

Only renders what :mod:`ctlabel.team.console_data` and :mod:`ctlabel.team.console_alerts`
computed; every value is escaped. No inline script; the bars are SVG attributes, no style attributes.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from urllib.parse import quote

from ctlabel.progress import duration_text
from ctlabel.team.case_story import StoryRow, when_text
from ctlabel.team.console_alerts import Alert
from ctlabel.team.console_data import STAGES, Forecast, PersonNow, Progress, ReviewQueue
from ctlabel.team.dashboard_views import STAGE_COLORS, table

COLORS = STAGE_COLORS
#: The order of the progress bar's segments (done first).
BAR_ORDER = ("approved", "accepted", "in_review", "submitted", "rejected", "in_progress", "claimed", "available",
             "flagged")
ALERT_NAMES = {"flagged": "flagged", "forced": "forced past QA", "revoked": "revoked holder",
               "rejected": "rejected twice+", "stalled": "stalled", "lease": "lease ending", "accuracy": "accuracy low"}


def stage_name(stage: str) -> str:
    """``in_review`` as ``in review``; ``accepted`` as ``accepted by policy``."""
    return "accepted by policy" if stage == "accepted" else stage.replace("_", " ")


def case_link(name: str, label: str | None = None) -> str:
    """A link to a case's page (its label below the id when given)."""
    text = escape(name) + (f'<br><small class="muted">{escape(label)}</small>' if label else "")
    return f'<a href="/cases/{quote(name)}">{text}</a>'


def span(seconds: float) -> str:
    """``40 s``, ``5 min``, ``3 h``, ``2.5 days``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.1f} days"


def ago(t: dt.datetime | None, now: dt.datetime) -> str:
    """``5 min ago`` (``in 10 min`` for a time to come); ``never`` without a time."""
    if t is None:
        return "never"
    s = (now - t).total_seconds()
    return f"in {span(-s)}" if s < 0 else f"{span(s)} ago"


def progress_section(prog: Progress, fc: Forecast) -> str:
    """The progress bar (SVG), the count of each stage (links to the filtered case table) and the forecast."""
    width, height = 1000, 26
    parts = [f'<svg id="progress" xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="cases per stage">']
    x = 0.0
    for s in BAR_ORDER:
        n = prog.stages[s]
        if not n:
            continue
        w = width * n / max(1, prog.total)
        parts.append(f'<rect class="seg seg-{s}" x="{x:.2f}" y="0" width="{w:.2f}" height="{height}" '
                     f'fill="{COLORS[s]}"><title>{stage_name(s)}: {n}</title></rect>')
        x += w
    if not prog.total:
        parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#eef0f3"/>')
    parts.append("</svg>")
    boxes = []
    for s in STAGES:
        extra = f'<small id="never-claimed">{prog.never_claimed} never claimed</small>' if s == "available" else ""
        boxes.append(f'<a class="count" id="count-{s}" href="/cases?stage={s}"><i class="sw" data-stage="{s}">'
                     f'</i><b>{prog.stages[s]}</b>{stage_name(s)}{extra}</a>')
    boxes.append(f'<a class="count" id="count-total" href="/cases"><b>{prog.total}</b>total</a>')
    pct = 100 * prog.approved_fraction
    if fc.remaining == 0 and prog.total:
        when = "every case is approved or flagged"
    elif fc.finish is None:
        when = "no approval in the last " + f"{fc.days} days, so no projected finish"
    else:
        when = (f"projected finish <b id=\"finish\">{fc.finish.isoformat()}</b> "
                f"({(fc.finish - fc.today).days} days at that rate)")
    return (f'<section id="how-far"><h2>How far: {prog.stages["approved"]} of {prog.total - prog.stages["flagged"]} '
            f'approved ({pct:.1f} %)</h2>{"".join(parts)}<div class="counts">{"".join(boxes)}</div>'
            f'<p id="forecast">{fc.approved_recent} approval(s) in the last {fc.days} days '
            f'(<b>{fc.per_day:.1f}</b> a day); {fc.remaining} case(s) left; {when}.</p></section>')


def queue_section(q: ReviewQueue, now: dt.datetime) -> str:
    """The review queue: waiting, under review, the oldest waiting submission."""
    oldest = (f'; the oldest waits since {when_text(q.oldest_submit)} UTC (<b id="oldest-age">'
              f'{escape(ago(q.oldest_submit, now))}</b>, {case_link(q.oldest_case)})'
              if q.oldest_case and q.oldest_submit else "")
    return (f'<p id="review-queue"><b id="queue-waiting">{q.waiting}</b> submission(s) wait for a reviewer, '
            f'<b id="queue-in-review">{q.in_review}</b> under review{oldest}.</p>')


def alerts_table(items: list[Alert], now: dt.datetime, limit: int | None = None,
                 labels: dict[str, str] | None = None) -> str:
    """The alerts, each linking to its case (its label below); ``limit`` shows the first ones and a link to all."""
    if not items:
        return '<p id="no-alerts" class="muted">Nothing needs attention.</p>'
    counts: dict[str, int] = {}
    for a in items:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    tally = " · ".join(f'<span class="tag tag-{k}">{escape(ALERT_NAMES[k])} {n}</span>' for k, n in counts.items())
    shown = items[:limit] if limit else items
    rows = [[f'<span class="tag tag-{a.kind}">{escape(ALERT_NAMES[a.kind])}</span>',
             f'<a href="{escape(a.link)}">accuracy page</a>' if a.link else
             case_link(a.case, (labels or {}).get(a.case)),
             escape(a.text), f'<span class="nw">{escape(ago(a.at, now)) if a.at else ""}</span>'] for a in shown]
    more = (f'<p><a id="all-alerts" href="/alerts">All {len(items)} alerts</a></p>'
            if limit and len(items) > limit else "")
    return (f'<p class="tally">{tally}</p>' + table(["alert", "case", "what", "since"], rows, raw=(0, 1, 2, 3),
                                                    cls="alerts") + more)


def team_now(people: list[PersonNow], now: dt.datetime, recent: dt.timedelta = dt.timedelta(minutes=15)) -> str:
    """Who works now: people holding cases, active lately, never active; a link to everybody's figures."""
    holding = [p for p in people if p.holds or p.reviews]
    lately = [p for p in people if p.last_activity is not None and now - p.last_activity <= recent]
    never = [p for p in people if p.last_activity is None]
    cases = sum(len(p.holds) + len(p.reviews) for p in people)
    names = ", ".join(escape(p.user) for p in never[:8]) + (f" and {len(never) - 8} more" if len(never) > 8 else "")
    return (f'<p id="team-now"><b id="holding">{len(holding)}</b> of {len(people)} people hold <b>{cases}</b> '
            f'case(s) now; <b id="active-lately">{len(lately)}</b> did something in the last '
            f'{recent.total_seconds() / 60:.0f} min; <b id="never-active">{len(never)}</b> never did anything'
            + (f" ({names})" if names else "") + '.</p><p><a href="/people" id="people-link">Everybody: open claims, '
            'last activity, leases, items, approval rate, pay</a></p>')


def people_table(people: list[PersonNow], figures: dict[str, dict], now: dt.datetime, currency: str) -> str:
    """Every annotator: open claims, earliest lease, last activity, then the report's figures."""
    def pct(x):
        return "–" if x is None else f"{100 * x:.0f} %"

    rows = []
    for p in people:
        if p.role not in ("annotator", "lead") or (p.role == "lead" and not p.holds):
            continue
        f = figures.get(p.user, {})
        holds = ", ".join(case_link(c) for c in p.holds[:3]) + (f" +{len(p.holds) - 3}" if len(p.holds) > 3 else "")
        name = escape(p.user) + ("" if p.active else ' <span class="tag tag-revoked">revoked</span>')
        rows.append([name, holds, f'<span class="nw">{escape(ago(p.last_activity, now))}</span>',
                     f'<span class="nw">{escape(when_text(p.lease_until)[:16])}</span>', f.get("items", 0),
                     f.get("resubmitted", 0), f.get("approved", 0), f.get("rejected", 0),
                     pct(f.get("approval_rate")), "–" if f.get("active_min_per_item") is None else
                     duration_text(60 * f["active_min_per_item"]), f"{f.get('owed', 0.0):.2f}"])
    return table(["annotator", "holds now", "last activity", "lease until (UTC)", "items", "resub.", "approved",
                  "rejected", "approval", "active / item", f"owed ({currency})"], rows, numeric=range(4, 11),
                 raw=(0, 1, 2, 3), cls="annotators")


def reviewers_table(people: list[PersonNow], figures: dict[str, dict], now: dt.datetime, currency: str) -> str:
    """Every reviewer: the cases under their review now, last activity, items reviewed, owed."""
    rows = []
    for p in people:
        f = figures.get(p.user, {})
        if p.role != "reviewer" and not (p.role == "lead" and f.get("reviews")):
            continue
        name = escape(p.user) + ("" if p.active else ' <span class="tag tag-revoked">revoked</span>')
        rows.append([name, ", ".join(case_link(c) for c in p.reviews[:3]),
                     f'<span class="nw">{escape(ago(p.last_activity, now))}</span>', f.get("reviews", 0),
                     f"{f.get('owed', 0.0):.2f}"])
    return table(["reviewer", "reviewing now", "last activity", "items reviewed", f"owed ({currency})"], rows,
                 numeric=(3, 4), raw=(0, 1, 2), cls="reviewers")


def story_table(rows: list[StoryRow], cls: str) -> str:
    """A case's history: when (one line), who, what, comment."""
    return table(["when (UTC)", "who", "what", "comment"],
                 [[f'<span class="nw">{escape(when_text(r.when))}</span>', escape(r.who), escape(r.what),
                   escape(r.comment)] for r in rows], raw=(0, 1, 2, 3), cls=cls)


__all__ = ["ALERT_NAMES", "BAR_ORDER", "COLORS", "ago", "alerts_table", "case_link", "people_table",
           "progress_section", "queue_section", "reviewers_table", "span", "stage_name", "story_table",
           "team_now"]
