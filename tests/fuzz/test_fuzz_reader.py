"""The reader on a fixed corpus of mutated real CT files: success or a CtlabelError, nothing else.

The corpus is deterministic (seeded); ``benchmarks/fuzz_reader.py`` runs the large one with memory
and time limits. The small seeds keep this within a minute or two of CI time.
"""

import time
import warnings

import pytest
from mutations import SMALL_SEEDS, cases, make_case, run_case

CORPUS = 2500
BUDGET_S = 150


@pytest.mark.slow
def test_fixed_corpus_gives_only_success_or_ctlabel_errors(tmp_path):
    start = time.monotonic()
    outcomes: dict[str, int] = {}
    escapes = []
    for i, case in enumerate(cases(CORPUS, SMALL_SEEDS)):
        if time.monotonic() - start > BUDGET_S:
            break
        folder = make_case(case, tmp_path / str(i))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = run_case(folder)
        except Exception as exc:  # noqa: BLE001 - what the test collects
            escapes.append(f"{type(exc).__name__}: {exc} ({case})")
            continue
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    ran = sum(outcomes.values()) + len(escapes)
    assert ran >= 1000, f"only {ran} inputs ran in {BUDGET_S} s"
    assert outcomes.get("loaded", 0) > 0.2 * ran and outcomes.get("error", 0) > 0.2 * ran  # the corpus bites
    assert not escapes, f"{len(escapes)} of {ran} escaped the error family, e.g. " + "; ".join(escapes[:5])


def test_minimized_crashers_of_the_benchmark_run(tmp_path):
    """Escapes found by benchmarks/fuzz_reader.py (100,000 inputs): a TransferSyntaxUID read as a plain string."""
    from mutations import ALL_SEEDS

    for seed in (10778,):
        case = next(c for c in cases(seed + 1, ALL_SEEDS) if c.rng_seed == seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert run_case(make_case(case, tmp_path / str(seed))) in ("loaded", "error", "not_image")
