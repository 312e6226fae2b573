"""``ctlabel team review-policy``: show or set a project's review policy (the lead, on the project folder).

``review-policy PROJECT`` shows it; ``--min-gold N --min-accuracy X --review-rate P --fail-below Y``
change those settings and turn it on; ``--off`` turns it off (every submission is reviewed, the
settings are kept), ``--on`` turns it on with the settings it has. docs/quality.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def cmd_review_policy(args) -> int:
    """Show or change the review policy."""
    from ctlabel.cli.common import out as _out
    from ctlabel.cli.common import team_service as _service
    from ctlabel.errors import InputError

    if args.on and args.off:
        raise InputError("--on and --off exclude each other")
    svc = _service(args)
    values = {"min_gold": args.min_gold, "min_accuracy": args.min_accuracy, "review_rate": args.review_rate,
              "fail_below": args.fail_below}
    if args.on or args.off or any(v is not None for v in values.values()):
        setting = svc.policy.set(enabled=False if args.off else True if args.on else None,
                                 by="lead (command line)", **values)
    else:
        setting = svc.policy.setting()
    p = setting.policy
    text = (f"review policy: {'on' if setting.enabled else 'off (every submission is reviewed)'}\n"
            f"  trusted after {p.min_gold} gold case(s) since the last failure (a gold below Dice {p.fail_below:g} "
            f"on any label, or a rejection), with every label's accuracy lower bound >= {p.min_accuracy:g}\n"
            f"  a trusted annotator's submission is reviewed with probability {p.review_rate:g}, "
            "otherwise accepted by the policy")
    return _out(args, setting.as_json(), text)


def _share(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1") from None


def register(add: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    """Add ``team review-policy`` through the team parser's ``add``."""
    p = add("review-policy", cmd_review_policy, "show or set the review policy: when a trusted annotator's "
            "submission is accepted without review (off by default)")
    p.add_argument("project", metavar="PROJECT", help="the team project folder")
    p.add_argument("--min-gold", type=int, metavar="N", help="gold cases needed since the last failure")
    p.add_argument("--min-accuracy", type=_share, metavar="X", help="the accuracy's 95%% lower bound needed on "
                   "every label of the submission (Dice)")
    p.add_argument("--review-rate", type=_share, metavar="P", help="the share of a trusted annotator's "
                   "submissions still reviewed (a random sample)")
    p.add_argument("--fail-below", type=_share, metavar="Y", help="a gold case scored below this Dice on any "
                   "label is a failure (takes the trust away)")
    p.add_argument("--on", action="store_true", help="turn it on with its settings")
    p.add_argument("--off", action="store_true", help="turn it off: every submission is reviewed")


__all__ = ["cmd_review_policy", "register"]
