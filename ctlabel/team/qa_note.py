"""What the server logs of a submit forced past QA errors (the console's ``forced`` alerts).

The core records a forced submit in ``case.json`` (``Forced``, ``QAErrors`` of the ``submitted``
or ``read`` event, :func:`ctlabel.case.qa_gate.qa_gate`); the server copies it into its
``submit`` event so that the lead's console finds such cases with one query.
"""

from __future__ import annotations


def _finding(f: object) -> str:
    if not isinstance(f, dict):
        return str(f)[:300]
    where = ", ".join(f"{k} {f[k]}" for k in ("label", "slice") if f.get(k) is not None)
    return (f"{f.get('message') or f.get('check') or '?'}" + (f" ({where})" if where else ""))[:300]


def submit_note(record_events: list[dict], action: str = "submitted") -> dict:
    """The server event detail of a forced submit, from the case's ``case.json`` events.

    Parameters
    ----------
    record_events : list of dict
        ``case.json``'s ``Events`` after the submit.
    action : str
        The core action of the submit: ``submitted``, or ``read`` (a read of a double-read case).

    Returns
    -------
    dict
        ``{"forced": True, "qa_errors": [...]}`` (at most 20 findings as text) for a forced submit, else ``{}``.
    """
    for ev in reversed(record_events):
        if ev.get("Action") == action:
            if ev.get("Forced"):
                return {"forced": True, "qa_errors": [_finding(f) for f in (ev.get("QAErrors") or [])][:20]}
            return {}
    return {}


__all__ = ["submit_note"]
