"""Start-up stays light: ``import ctlabel`` and ``ctlabel --help`` load no heavy library.

No timing assertions here (``benchmarks/convert.py`` measures the times); these tests
check what is imported, in fresh subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from data_paths import PHILIPS_5MM

import ctlabel

HEAVY = ("scipy", "nibabel", "pydicom", "highdicom", "SimpleITK", "skimage")

_REPORT = (
    "import json, sys\n"
    "heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))\n"
    "print(json.dumps(heavy))\n"
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def _heavy_after(code: str) -> list[str]:
    """Heavy top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    r = _run(code + "\n" + _REPORT.format(heavy=HEAVY))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_ctlabel_loads_no_heavy_library():
    assert _heavy_after("import ctlabel") == []


def test_cli_help_exits_0_and_loads_no_heavy_library():
    code = (
        "import sys\n"
        "from ctlabel.cli.main import main\n"
        "sys.argv = ['ctlabel', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "else:\n"
        "    raise AssertionError('--help did not exit')\n"
    )
    assert _heavy_after(code) == []


def test_cli_help_as_a_process_exits_0():
    r = subprocess.run([sys.executable, "-m", "ctlabel", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "convert" in r.stdout


def test_import_ctlabel_leaves_pydicom_config_alone():
    code = (
        "import pydicom\n"
        "before = pydicom.config.settings.reading_validation_mode\n"
        "import ctlabel\n"
        "assert pydicom.config.settings.reading_validation_mode == before, 'import ctlabel changed pydicom config'\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr


def test_all_is_unique_sorted_like_before_and_listed_by_dir():
    assert len(ctlabel.__all__) == len(set(ctlabel.__all__))
    assert set(ctlabel.__all__) <= set(dir(ctlabel))


@pytest.mark.parametrize("name", ctlabel.__all__)
def test_every_public_name_resolves(name):
    assert getattr(ctlabel, name) is not None
    ns: dict = {}
    exec(f"from ctlabel import {name}", ns)
    assert ns[name] is getattr(ctlabel, name)


def test_functions_named_like_their_module_stay_functions():
    # Importing the submodule must not replace the function on the package (as the eager
    # ``from ctlabel.intake.convert import convert`` never did).
    code = (
        "import ctlabel\n"
        "from ctlabel.intake.convert import ConvertOptions\n"
        "import ctlabel.interpolate\n"
        "assert callable(ctlabel.convert) and ctlabel.convert.__name__ == 'convert', ctlabel.convert\n"
        "assert callable(ctlabel.interpolate) and ctlabel.interpolate.__name__ == 'interpolate'\n"
        "import sys\n"
        "assert sys.modules['ctlabel.intake.convert'].convert is ctlabel.convert\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr


def test_submodules_stay_reachable_as_attributes_of_the_package():
    # ``import ctlabel`` used to import most submodules, so ``ctlabel.volume.Grid`` worked.
    r = _run("import ctlabel\nassert ctlabel.volume.Grid is ctlabel.Grid\nassert ctlabel.errors.CtlabelError\n")
    assert r.returncode == 0, r.stderr


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        ctlabel.no_such_name  # noqa: B018


def test_using_ctlabel_changes_no_global_state_of_pydicom():
    """Importing ctlabel and scanning and loading a series leave pydicom's settings as they were."""
    code = (
        "import pydicom, sys\n"
        "before = (pydicom.config.settings.reading_validation_mode,"
        " pydicom.config.settings.writing_validation_mode)\n"
        "import ctlabel\n"
        f"ctlabel.load_series(ctlabel.find_series({str(PHILIPS_5MM)!r}).volumes()[0])\n"
        "after = (pydicom.config.settings.reading_validation_mode,"
        " pydicom.config.settings.writing_validation_mode)\n"
        "sys.exit(0 if before == after else f'{before} -> {after}')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
