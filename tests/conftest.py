"""Fixtures shared by the core tests."""

import datetime as _dt

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


#: The time a frozen clock gives (tests of the bytes a save writes: tests/data/saved_bytes).
FROZEN_NOW = _dt.datetime(2027, 1, 2, 3, 4, 5, 678000, tzinfo=_dt.UTC)


class _FrozenClock(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FROZEN_NOW


@pytest.fixture()
def frozen(monkeypatch):
    """The clock and the software version fixed: a save is then a function of its input."""
    import ctlabel._version
    import ctlabel.io.provenance

    monkeypatch.setattr(ctlabel.io.provenance, "datetime", _FrozenClock)
    monkeypatch.setattr(ctlabel._version, "__version__", "0.0.0+saved-bytes")
