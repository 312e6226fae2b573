"""HTML of the lead's dashboard: the page shell, tables, forms and the throughput plot (inline SVG).

Plain server-rendered HTML (no template engine, no front-end build): every value that comes
from the database or a request is escaped with :func:`html.escape`. Pages show case ids,
user names, states and counts, never patient data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote, urlencode

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:.6rem 1.5rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:500}header .who{margin-left:auto;font-size:.9rem}
header form{display:inline;margin:0}header button{background:none;border:1px solid #fff8;color:#fff}
main{max-width:1150px;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.4rem;margin:.4rem 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.4rem 1rem 1rem;margin-bottom:1rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.3rem .55rem;border-bottom:1px solid #e6e8ec}th{background:#f0f2f5}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.counts{display:flex;gap:.8rem;flex-wrap:wrap}.count{background:#f0f4fa;border-radius:6px;padding:.5rem 1rem}
.count b{display:block;font-size:1.5rem}.muted{color:#667}.msg{background:#e8f4ea;padding:.5rem 1rem;border-radius:6px}
.err{background:#fbe9e9;padding:.5rem 1rem;border-radius:6px}
form.inline{display:inline-flex;gap:.4rem;align-items:center;margin:.2rem 0}
input,select,button{font:inherit;padding:.25rem .5rem}button{cursor:pointer}
.grid{display:grid;grid-template-columns:2fr 1fr;gap:1rem}code{background:#f0f2f5;padding:0 .25rem}
a.count{color:inherit;text-decoration:none;border:1px solid transparent}a.count:hover{border-color:#9ab}
.count small{display:block;color:#667;font-size:.8rem}.count i.sw{display:inline-block;width:.7rem;height:.7rem;
margin-right:.35rem;border-radius:2px}.nw{white-space:nowrap}.tally{margin:.3rem 0}
.tag{display:inline-block;border-radius:4px;padding:0 .4rem;font-size:.82rem;background:#eef0f3;white-space:nowrap}
.tag-flagged,.tag-revoked{background:#f7d9d6}.tag-forced,.tag-rejected{background:#fbe6c9}
.tag-stalled{background:#e9e2f5}.tag-lease{background:#dcebf8}
img.thumb{width:64px;height:64px;object-fit:contain;background:#000;border-radius:3px;display:block}
img.big{width:240px;height:240px;object-fit:contain;background:#000;border-radius:4px}
.case-head{display:flex;gap:1.2rem;align-items:flex-start}
.tag-running{background:#dcebf8}.tag-done{background:#dff0e3}.tag-failed{background:#f7d9d6}
progress{width:22rem;height:1.1rem}textarea{font:.9rem ui-monospace,monospace;width:100%;box-sizing:border-box}
"""
#: The colours of the case stages (progress bar, swatches), ``ctlabel.team.console_views``.
STAGE_COLORS = {"approved": "#2e7d4f", "accepted": "#7fbf8f", "in_review": "#3f6fb0", "submitted": "#7aa6d8",
                "rejected": "#e39b3b", "in_progress": "#9fc5e8", "claimed": "#cfe2f3", "available": "#e3e6ea",
                "flagged": "#c0392b"}
STYLE += "".join(f'.count i.sw[data-stage="{s}"]{{background:{c}}}' for s, c in STAGE_COLORS.items())


def page(title: str, body: str, *, user: str | None = None, csrf: str = "", head: str = "") -> str:
    """A whole HTML page with the navigation bar (when logged in); ``head`` is HTML for its head (a reload)."""
    nav = ""
    if user:
        nav = ('<a href="/">Summary</a><a href="/alerts">Alerts</a><a href="/cases">Cases</a>'
               '<a href="/people">People</a><a href="/accuracy" id="accuracy-link">Accuracy</a>'
               '<a href="/manage" id="manage-link">Manage</a>'
               '<a href="/report.csv">Pay report (CSV)</a>'
               f'<span class="who">{escape(user)} (lead)</span>'
               f'<form method="post" action="/logout">{csrf_field(csrf)}<button>Log out</button></form>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{escape(title)} · ctlabel team</title><style>{STYLE}</style>{head}</head>'
            f'<body><header><strong>ctlabel team</strong>{nav}</header><main>{body}</main></body></html>')


def csrf_field(csrf: str) -> str:
    """The hidden form field carrying the CSRF token (nothing when there is no token).

    Parameters
    ----------
    csrf : str
        The session's CSRF token.

    Returns
    -------
    str
        HTML.
    """
    return f'<input type="hidden" name="csrf" value="{escape(csrf)}">' if csrf else ""


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = (),
          raw: Sequence[int] = (), cls: str = "") -> str:
    """A table; cells are escaped unless their column is in ``raw`` (already HTML)."""
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{escape(h)}</th>' for i, h in enumerate(headers))
    out = [f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>']
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = str(v) if i in raw else escape("" if v is None else str(v))
            cells.append(f'<td{" class=n" if i in numeric else ""}>{text}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def agreement_section(summary: dict) -> str:
    """The double-read agreement: per label mean and lowest Dice, mean HD95, and the cases agreeing least.

    Parameters
    ----------
    summary : dict
        :func:`ctlabel.team.double_read.agreement_summary`.

    Returns
    -------
    str
        HTML (``id="double-reading"``).
    """
    if not summary["cases"]:
        state = ("<b>on</b> (2 readers per case); no case has both reads yet, so there is no agreement to show"
                 if summary["readers"] == 2 else
                 "<b>off</b> on this server (one reader per case), so there is no agreement (Dice per label) to show")
        return f'<p id="double-reading">Double reading is {state}.</p>'

    def num(x: float | None, n: int) -> str:
        return "–" if x is None else f"{x:.{n}f}"

    labels = table(["label", "name", "cases", "mean Dice", "lowest Dice", "mean HD95 (mm)"],
                   [[r["label"], r["name"], r["cases"], num(r["mean_dice"], 3), num(r["min_dice"], 3),
                     num(r["mean_hd95_mm"], 1)] for r in summary["labels"]], numeric=(0, 2, 3, 4, 5),
                   cls="agreement")
    low = ", ".join(f'<a href="/cases/{quote(c["case"])}">{escape(c["case"])}</a> ({c["min_dice"]:.3f})'
                    for c in summary["lowest"])
    on = "on" if summary["readers"] == 2 else "off for new cases"
    return (f'<div id="double-reading"><p>Double reading is <b>{on}</b>; {summary["cases"]} case(s) with both '
            f'reads compared (Dice and HD95 per label, <code>ctlabel.measure.compare</code>).</p>{labels}'
            f'<p>Lowest agreement: {low}</p></div>')


def login_page(message: str = "", error: bool = False) -> str:
    """The lead dashboard's login page.

    Parameters
    ----------
    message : str
        A note shown above the form (none when empty).
    error : bool
        Show the note as an error.

    Returns
    -------
    str
        The whole HTML page.
    """
    note = f'<p class="{"err" if error else "msg"}">{escape(message)}</p>' if message else ""
    body = (f'<h1>Lead dashboard: log in</h1>{note}<section><form method="post" action="/login">'
            '<p><label>Lead token <input type="password" name="token" id="token" size="50" autocomplete="off" '
            'required></label> <button id="login">Log in</button></p></form>'
            '<p class="muted">The token <code>ctlabel team user add NAME --role lead PROJECT</code> printed. '
            'It is kept in a cookie only this site reads (HttpOnly, SameSite=Strict) until you log out.</p>'
            '</section>')
    return page("Log in", body)


def int_ticks(high: int, most: int = 5) -> list[int]:
    """Integer ticks from 0 covering ``high``: a step of 1, 2 or 5 times a power of ten, at most ``most`` + 1 ticks.

    Parameters
    ----------
    high : int
        The largest value shown (0 or more).
    most : int
        At most this many steps.

    Returns
    -------
    list of int
        Increasing, distinct, from 0 to the first multiple of the step at or above ``high`` (at least 1).
    """
    high = max(1, int(high))
    power = 1
    while True:
        for m in (1, 2, 5):
            step = m * power
            if -(-high // step) <= most:
                return list(range(0, -(-high // step) * step + 1, step))
        power *= 10


def bar_chart(days: Sequence[dt.date], series: dict[str, Sequence[int]], colors: dict[str, str]) -> str:
    """Grouped bars per day (one bar per series and day), as an inline SVG."""
    width, height, left, bottom, top = 960, 230, 40, 40, 16
    n, k = max(1, len(days)), max(1, len(series))
    ticks = int_ticks(max([0, *(v for vals in series.values() for v in vals)]))
    top_value = ticks[-1]
    slot = (width - left - 10) / n
    bw = max(2.0, (slot - 6) / k)
    plot_h = height - bottom - top
    parts = [f'<svg id="throughput" xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="cases per day" style="max-width:{width}px">']
    for tick in ticks:
        y = top + plot_h * (1 - tick / top_value)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde1e7"/>'
                     f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#667">{tick}</text>')
    for i, day in enumerate(days):
        x0 = left + i * slot + 3
        for j, (name, vals) in enumerate(series.items()):
            v = vals[i]
            h = plot_h * v / top_value
            parts.append(f'<rect class="bar bar-{escape(name)}" data-day="{day.isoformat()}" data-count="{v}" '
                         f'x="{x0 + j * bw:.1f}" y="{top + plot_h - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" '
                         f'fill="{colors.get(name, "#888")}"><title>{day.isoformat()}: {v} {escape(name)}</title>'
                         '</rect>')
        if n <= 16 or i % 2 == 0:
            parts.append(f'<text x="{x0 + slot / 2 - 3:.1f}" y="{height - bottom + 16}" font-size="11" '
                         f'text-anchor="middle" fill="#445">{day.strftime("%d %b")}</text>')
    lx = left
    for name in series:
        parts.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{colors.get(name, "#888")}"/>'
                     f'<text x="{lx + 14}" y="{height - 5}" font-size="12" fill="#334">{escape(name)}</text>')
        lx += 110
    parts.append("</svg>")
    return "".join(parts)


def pager(base: str, params: dict, page_no: int, pages: int) -> str:
    """Previous / next links keeping the filter."""
    def link(p: int, text: str) -> str:
        q = urlencode({**{k: v for k, v in params.items() if v}, "page": p})
        return f'<a href="{base}?{escape(q)}" id="page-{text.lower()}">{text}</a>'

    out = [f"page {page_no} of {pages}"]
    if page_no > 1:
        out.insert(0, link(page_no - 1, "Previous"))
    if page_no < pages:
        out.append(link(page_no + 1, "Next"))
    return '<p class="pager">' + " · ".join(out) + "</p>"


def options(values: Iterable[str], selected: str | None, blank: str = "any") -> str:
    """The ``<option>`` elements of a select, ``selected`` marked, a blank choice first.

    Parameters
    ----------
    values : iterable of str
        The choices.
    selected : str, optional
        The choice to mark selected.
    blank : str
        The label of the empty choice (none when empty).

    Returns
    -------
    str
        HTML.
    """
    out = [f'<option value="">{escape(blank)}</option>'] if blank else []
    for v in values:
        out.append(f'<option value="{escape(v)}"{" selected" if v == selected else ""}>{escape(v)}</option>')
    return "".join(out)


def post_form(action: str, csrf: str, button: str, fields: str = "", form_id: str = "") -> str:
    """A small POST form with the CSRF token."""
    fid = f' id="{escape(form_id)}"' if form_id else ""
    return (f'<form class="inline" method="post" action="{escape(action)}"{fid}>{csrf_field(csrf)}{fields}'
            f'<button>{escape(button)}</button></form>')


__all__ = ["STAGE_COLORS", "STYLE", "agreement_section", "bar_chart", "csrf_field", "int_ticks", "login_page",
           "options", "page", "pager", "post_form",
           "table"]
