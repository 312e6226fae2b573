"""The lead's dashboard: the pay section (owed, paid, unpaid; the closed pay periods).

Rendered from :func:`ctlabel.team.pay.summary` (the figures live in the core); the people page
(``/people``, :func:`ctlabel.team.dashboard_pages.people_body`) calls :func:`pay_section` once.
Escaped HTML only, no script.
"""

from __future__ import annotations

from html import escape

from ctlabel.team import pay
from ctlabel.team.dashboard_views import table
from ctlabel.team.service import Service

#: The newest periods listed on the summary (``ctlabel team pay list`` shows them all).
SHOWN_PERIODS = 6


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency}"


def pay_html(s: pay.PaySummary) -> str:
    """The section for a :class:`ctlabel.team.pay.PaySummary`.

    Parameters
    ----------
    s : PaySummary
        From :func:`ctlabel.team.pay.summary`.

    Returns
    -------
    str
        ``<section id="pay">``: owed in all (closed but unpaid, and the open work since the last
        period), paid, and the newest periods (days, people, amount, paid or not).
    """
    cur = s.currency
    since = f"since {s.open_since}" if s.open_since else "no period closed yet"
    facts = table(["", "amount"], [
        ["owed in all (unpaid and open)", _money(s.owed_cents, cur)],
        ["closed, unpaid", _money(s.unpaid_cents, cur)],
        [f"open work ({since})", _money(s.open_cents, cur)],
        ["paid", _money(s.paid_cents, cur)]], numeric=(1,), cls="facts pay")
    rows = [[p.number, f"{p.first_day or 'start'} – {p.last_day}", p.people, _money(p.owed_cents, cur),
             f"paid {p.paid_at:%Y-%m-%d}" if p.paid_at else "unpaid"]
            for p in reversed(s.periods[-SHOWN_PERIODS:])]
    periods = table(["period", "days", "people", "amount", "status"], rows, numeric=(0, 2, 3),
                    cls="periods") if rows else ""
    return (f'<section id="pay"><h2>Pay</h2>{facts}{periods}<p class="muted">Close a period: <code>ctlabel team '
            f'pay close PROJECT --until YYYY-MM-DD</code>; a period\'s CSV: <code>ctlabel team pay show PROJECT N '
            f'--csv</code>; after paying it: <code>ctlabel team pay mark-paid PROJECT N</code>. Amounts in '
            f'{escape(cur)}.</p></section>')


def pay_section(svc: Service) -> str:
    """The pay section of ``svc``'s project (the one call the dashboard makes)."""
    return pay_html(pay.summary(svc))


__all__ = ["SHOWN_PERIODS", "pay_html", "pay_section"]
