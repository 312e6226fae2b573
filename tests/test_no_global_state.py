"""Importing ctlabel changes no global state (issue 10): library settings, environment, logging, warnings."""

import subprocess
import sys

SNAPSHOT = """
def snapshot():
    import logging, os, warnings, numpy, pydicom, pydicom.config as cfg
    s = cfg.settings
    return {
        "pydicom": (s.reading_validation_mode, s.writing_validation_mode, cfg.use_none_as_empty_text_VR_value,
                    cfg.enforce_valid_values if hasattr(cfg, "enforce_valid_values") else None,
                    tuple(getattr(cfg, "pixel_data_handlers", ()) or ())),
        "numpy": numpy.geterr(),
        "env": dict(os.environ),
        "logging": (logging.root.level, list(logging.root.handlers), logging.getLogger().disabled),
        "threads": __import__("threading").active_count(),
    }
"""


def test_importing_every_core_module_changes_no_global_state():
    code = SNAPSHOT + (
        "import importlib, pkgutil, traceback, warnings\n"
        "callers = []\n"
        "def spy(real):\n"
        "    def wrapped(*a, **k):\n"
        "        callers.append(traceback.extract_stack()[-2].filename)\n"
        "        return real(*a, **k)\n"
        "    return wrapped\n"
        "warnings.filterwarnings = spy(warnings.filterwarnings)\n"
        "warnings.simplefilter = spy(warnings.simplefilter)\n"
        "before = snapshot()\n"
        "import ctlabel\n"
        "for m in pkgutil.walk_packages(ctlabel.__path__, 'ctlabel.'):\n"
        "    if not m.name.endswith('__main__') and '.migrations' not in m.name:\n"
        "        importlib.import_module(m.name)\n"
        "after = snapshot()\n"
        "changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}\n"
        "assert not changed, changed\n"
        "pkg = ctlabel.__path__[0].rstrip('/') + '/'  # the package itself: a checkout may be named ctlabel too\n"
        "ours = [f for f in callers if f.startswith(pkg)]\n"
        "assert not ours, ours  # third-party packages may add warning filters on import; ctlabel must not\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
