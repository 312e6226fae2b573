"""Shared test paths: where the real CT data lives (``../shared/data/ct`` from the repo root)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CT_DATA = (ROOT / ".." / "shared" / "data" / "ct").resolve()
PHILIPS = CT_DATA / "dcmqa_ct_philips_brain" / "dicom" / "S21570"
PHILIPS_1MM = PHILIPS / "S2020"
PHILIPS_5MM = PHILIPS / "S2010"
GE_TILT = CT_DATA / "dcmqa_ct_ge_tilt_varspacing" / "dicom"


@pytest.fixture(scope="session")
def ct_data() -> Path:
    if not CT_DATA.is_dir():
        pytest.fail(f"the shared CT data is missing at {CT_DATA}")
    return CT_DATA
