"""The lead's accuracy page (``/accuracy``): annotators' measured accuracy, the threshold, the gold cases.

Only renders: the figures are :func:`ctlabel.team.accuracy.annotator_accuracy`'s, the gold cases
:meth:`ctlabel.team.gold.Gold.cases`'s. Every value is escaped; the trend is an inline SVG drawn
with attributes (the console's CSP allows no script and no style attribute). The forms post to
:mod:`ctlabel.team.dashboard_accuracy` with the session's CSRF token.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from ctlabel.measure.accuracy import Accuracy, SourceEstimate
from ctlabel.team import accuracy as team_accuracy
from ctlabel.team import dashboard_views as views
from ctlabel.team.console_views import case_link
from ctlabel.team.service import Service

#: The trend shows at most this many of the latest points.
TREND_POINTS = 40


def sparkline(trend: tuple[tuple[str, float], ...], limit: float | None, width: int = 120, height: int = 24) -> str:
    """The running mean as a small SVG line on a 0..1 scale, the threshold as a dashed line.

    Parameters
    ----------
    trend : tuple of (str, float)
        :attr:`Accuracy.trend` (time, running mean).
    limit : float or None
        The project's threshold.
    width, height : int
        The drawing's size in pixels.

    Returns
    -------
    str
        ``<svg>`` (an empty string without a point).
    """
    pts = trend[-TREND_POINTS:]
    if not pts:
        return ""

    def y(v: float) -> float:
        return round(1 + (height - 2) * (1.0 - max(0.0, min(1.0, v))), 1)

    step = (width - 2) / max(1, len(pts) - 1)
    line = " ".join(f"{round(1 + i * step, 1)},{y(v)}" for i, (_, v) in enumerate(pts))
    first, last = pts[0], pts[-1]
    title = f"running mean {first[1]:.3f} ({first[0][:10]}) to {last[1]:.3f} ({last[0][:10]}), {len(trend)} scores"
    rule = (f'<line x1="0" x2="{width}" y1="{y(limit)}" y2="{y(limit)}" stroke="#c0392b" stroke-dasharray="3,2" '
            'stroke-width="1"/>' if limit is not None else "")
    dot = f'<circle cx="{line.split()[-1].split(",")[0]}" cy="{y(last[1])}" r="2" fill="#3f6fb0"/>'
    return (f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'{rule}<polyline points="{line}" fill="none" stroke="#3f6fb0" stroke-width="1.5"/>{dot}</svg>')


def _source(e: SourceEstimate) -> str:
    if not e.n or e.mean is None:
        return '<span class="muted">-</span>'
    interval = "" if e.low is None or e.high is None else f' <small class="muted">[{e.low:.2f}, {e.high:.2f}]</small>'
    return f"{e.mean:.3f}{interval} <small>n {e.n}</small>"


def _estimate(a: Accuracy, limit: float | None) -> str:
    e = a.estimate
    if e.mean is None or e.low is None or e.high is None:
        return '<span class="muted">no Dice measured</span>'
    flag = ' <span class="tag tag-flagged">below</span>' if limit is not None and e.mean < limit else ""
    return f"<b>{e.mean:.3f}</b> [{e.low:.3f}, {e.high:.3f}]{flag}"


def accuracy_table(accs: dict[str, dict[int, Accuracy]], names: dict[int, str], limit: float | None) -> str:
    """Per annotator and label, worst first: estimate and interval, each source, the trend.

    Labels measured only by review decisions are one row per annotator (the decision applies to
    every label of the project).
    """
    rows: list[list[str]] = []
    review_only: dict[str, Accuracy] = {}
    for a in team_accuracy.worst_first(accs):
        if not team_accuracy.measured(a):
            review_only.setdefault(a.annotator, a)
            continue
        rows.append([f'<span id="acc-{escape(a.annotator)}-{a.label}">{escape(a.annotator)}</span>',
                     escape(f"{a.label} {names.get(a.label, '')}".strip()), _estimate(a, limit), _source(a.gold),
                     _source(a.agreement), _source(a.review), sparkline(a.trend, limit)])
    for who, a in review_only.items():
        rows.append([escape(who), '<span class="muted">other labels (reviews only)</span>', _estimate(a, limit),
                     _source(a.gold), _source(a.agreement), _source(a.review), ""])
    if not rows:
        return '<p class="muted" id="no-accuracy">No accuracy measured yet: no gold case scored, no two reads ' \
               'compared, no submission reviewed.</p>'
    return views.table(["annotator", "label", "estimate [95% interval]", "gold (Dice)", "agreement (Dice)",
                        "review (approved)", "trend"], rows, raw=tuple(range(7)), cls="accuracy")


def threshold_form(csrf: str, limit: float | None) -> str:
    """The form setting the project's threshold (empty or ``off`` clears it)."""
    value = "" if limit is None else f"{limit:g}"
    return views.post_form("/accuracy/threshold", csrf, "Set threshold", form_id="threshold", fields=(
        f'<label>threshold (Dice) <input name="threshold" id="threshold-value" value="{escape(value)}" size="5" '
        'placeholder="off"></label>'))


def gold_panel(svc: Service, csrf: str) -> str:
    """The gold cases (servings, scored, mean Dice; remove), the form adding cases, the gold rate."""
    cases = svc.gold.cases()
    rows = [[case_link(g["case"]), escape(g["version"]), escape(g["author"] or "?"), escape(g["approver"] or "?"),
             str(g["servings"]), str(g["scored"]), "-" if g["mean_dice"] is None else f"{g['mean_dice']:.3f}",
             views.post_form("/accuracy/gold/remove", csrf, "Remove", form_id=f"gold-remove-{g['case']}",
                             fields=f'<input type="hidden" name="cases" value="{escape(g["case"])}">')]
            for g in cases]
    listed = (views.table(["gold case", "reference", "made by", "approved by", "servings", "scored", "mean Dice", ""],
                          rows, numeric=(4, 5, 6), raw=tuple(range(8)), cls="gold")
              if rows else '<p class="muted" id="no-gold">No gold case yet.</p>')
    add = views.post_form("/accuracy/gold/add", csrf, "Add gold cases", form_id="gold-add", fields=(
        '<label>approved case ids <input name="cases" id="gold-cases" size="50" required '
        'placeholder="CASE CASE ..."></label>'))
    rate = svc.gold.rate()
    rate_form = views.post_form("/accuracy/gold/rate", csrf, "Set gold rate", form_id="gold-rate", fields=(
        f'<label>share of claims served a gold case <input name="rate" id="gold-rate-value" value="{rate:g}" '
        'size="5"></label>'))
    return (f'<section id="gold"><h2>Gold cases ({len(cases)})</h2><p class="muted">An approved case marked gold is '
            'served now and then in place of a case; the annotator\'s submission is scored against its approved '
            f'version. Gold rate now: <b id="gold-rate-now">{rate:g}</b>.</p>{listed}{add}{rate_form}</section>')


def accuracy_body(svc: Service, csrf: str, msg: str = "", err: str = "") -> str:
    """The whole ``/accuracy`` page body."""
    limit = team_accuracy.threshold(svc)
    accs = team_accuracy.annotator_accuracy(svc)
    low = team_accuracy.below(accs, limit)
    note = (f'<p class="msg" id="msg">{escape(msg)}</p>' if msg else "") + \
           (f'<p class="err" id="err">{escape(err)}</p>' if err else "")
    state = ("No threshold set: nothing is flagged." if limit is None else
             f"Threshold {limit:g}: {len(low)} annotator-label(s) below it.")
    return (f'<h1>Accuracy</h1>{note}<section id="accuracy"><p class="muted">Per annotator and label: the combined '
            'Dice estimate with its 95% interval (gold scores and agreement with other readers, gold weighing '
            'more), then each source on its own: gold Dice against the reference, Dice with the other reader, '
            'the share of reviewed submissions approved as submitted. The trend is the running mean of the Dice '
            f'scores. docs/quality.md.</p><p id="threshold-state">{escape(state)}</p>'
            f'{threshold_form(csrf, limit)}{accuracy_table(accs, team_accuracy.label_names(svc), limit)}</section>'
            f'{gold_panel(svc, csrf)}')


def link(annotator: str, label: int) -> str:
    """The page's address of an annotator-label's row."""
    return f"/accuracy#acc-{quote(annotator)}-{label}"


__all__ = ["TREND_POINTS", "accuracy_body", "accuracy_table", "gold_panel", "link", "sparkline", "threshold_form"]
