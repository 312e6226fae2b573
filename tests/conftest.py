"""Fixtures shared by the core tests."""

import pytest
from data_paths import CT3, CT_DATA

from ctlabel import load_series


def pytest_sessionstart(session):
    if not CT_DATA.is_dir():
        raise pytest.UsageError(f"the shared CT data is missing at {CT_DATA} (../shared/data/ct)")


@pytest.fixture(scope="session")
def ct3_volume():
    """The real 3-slice GE CT of the dcmqi ground truth, read once."""
    return load_series(CT3 / "dicom" / "ct-3slice")
