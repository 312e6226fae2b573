"""Fixtures shared by the core tests."""

import pytest
from data_paths import CT3, CT_DATA

from ctlabel import load_series


def pytest_sessionstart(session):
    # The data is part of the repository: only a broken checkout lacks it (never a reason to skip).
    if not (CT_DATA / "dcmqa_ct_philips_brain").is_dir():
        raise pytest.UsageError(f"the test data is missing at {CT_DATA}: an incomplete checkout of the repository")


@pytest.fixture(scope="session")
def ct3_volume():
    """The real 3-slice GE CT of the dcmqi ground truth, read once."""
    return load_series(CT3 / "dicom" / "ct-3slice")
