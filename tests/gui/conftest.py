"""GUI tests: a real napari viewer under Xvfb (pytest-xvfb starts it).

Every test here that needs Qt is marked ``gui``; without a display (no Xvfb, no DISPLAY) or
without napari they are skipped instead of letting Qt abort the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from data_paths import CT_DATA

ROOT = Path(__file__).resolve().parents[2]
PHILIPS = CT_DATA / "dcmqa_ct_philips_brain" / "dicom"


def _display_problem() -> str | None:
    try:
        import napari  # noqa: F401
        import pytestqt  # noqa: F401
    except ImportError as exc:
        return f"napari GUI stack not installed ({exc})"
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (install Xvfb for pytest-xvfb, or set DISPLAY)"
    return None


_QT_FIXTURES = {"make_napari_viewer", "qtbot", "qapp", "phantom_viewer"}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and _QT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)


def pytest_runtest_setup(item):
    if item.get_closest_marker("gui") is not None:
        problem = _display_problem()
        if problem:
            if os.environ.get("CTLABEL_REQUIRE_GUI") == "1":  # CI: a missing display is a failure
                pytest.fail(f"GUI test cannot run: {problem}")
            pytest.skip(problem)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """Keep the annotator setting out of the user's real config folder."""
    monkeypatch.setenv("CTLABEL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CTLABEL_ANNOTATOR", "test-annotator")
    monkeypatch.delenv("CTLABEL_AUTOSAVE_S", raising=False)


@pytest.fixture
def philips():
    return PHILIPS
