"""The Worklist's "My accuracy" tab: the annotator's own measured accuracy per label, as text.

From ``Client.my_accuracy`` (``GET /me/accuracy``): per label the combined Dice estimate with its
95% interval, then each source (gold cases, agreement with other readers, reviews) and the trend.
The server counts only what was measured before today began and names no case, so nothing here
tells which case was a gold case. No rule of its own: this only lays the answer out.
"""

from __future__ import annotations

from ctlabel import Client, ClientError


def fetch_accuracy(client: Client) -> dict | None:
    """My accuracy, or None from a server without the route (an older server answers 404)."""
    try:
        return client.my_accuracy()
    except ClientError as exc:
        if exc.status == 404:
            return None
        raise


def _interval(fig: dict) -> str:
    if fig.get("mean") is None:
        return "-"
    low, high = fig.get("low"), fig.get("high")
    return f"{fig['mean']:.2f}" + ("" if low is None or high is None else f" [{low:.2f}, {high:.2f}]")


def _trend(trend: list) -> str:
    if len(trend) < 2:
        return ""
    first, last = trend[0][1], trend[-1][1]
    arrow = "↗" if last > first + 0.01 else "↘" if last < first - 0.01 else "→"
    return f"trend {first:.2f} {arrow} {last:.2f} over {len(trend)} days"


def describe_accuracy(data: dict | None) -> str:
    """Plain text, one paragraph per label measured on the Dice scale, then the reviews (same for every label).

    Parameters
    ----------
    data : dict or None
        ``Client.my_accuracy()``'s answer (None: the server does not measure accuracy).

    Returns
    -------
    str
    """
    if data is None:
        return "This server does not report accuracy."
    labels = data.get("labels") or []
    head = f"As of {data.get('as_of', '?')} (today's work counts from tomorrow)."
    if not labels:
        return head + "\nNothing measured yet."
    limit = data.get("threshold")
    lines = [head]
    for lab in labels:
        if not lab.get("measured"):
            continue
        est, gold, agr = lab["estimate"], lab["gold"], lab["agreement"]
        below = limit is not None and est.get("mean") is not None and est["mean"] < limit
        name = lab.get("name") or f"label {lab['label']}"
        parts = [f"{name}: {_interval(est)}" + (f" (below the project's {limit:g})" if below else "")]
        if gold.get("n"):
            parts.append(f"gold cases {gold['n']}: {_interval(gold)}")
        if agr.get("n"):
            parts.append(f"other readers {agr['n']}: {_interval(agr)}")
        if _trend(lab.get("trend") or []):
            parts.append(_trend(lab["trend"]))
        lines.append(" · ".join(parts))
    review = labels[0]["review"]
    if review.get("n"):
        lines.append(f"Reviews: {_interval(review)} of {review['n']} submission(s) approved as submitted.")
    if len(lines) == 1:
        lines.append("No Dice measured yet.")
    return "\n".join(lines)


__all__ = ["describe_accuracy", "fetch_accuracy"]
