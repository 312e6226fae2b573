"""ctlabel: CT segmentation labeling toolkit (core library, no GUI).

The core never imports napari, Qt or magicgui; ``plugins/`` holds the napari plugin.

The public names below are imported lazily (PEP 562): ``import ctlabel`` loads no
numerical or DICOM library, so the command line starts fast; the first use of a
name, e.g. ``ctlabel.load_series``, imports the module that defines it.
"""

from __future__ import annotations

import importlib
import sys
import types

from ctlabel._version import __version__

# ``typing`` and ``importlib.util`` are left out: each costs a few ms of ``ctlabel --help``.
TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers understand it

#: Public name -> submodule of ctlabel that defines it.
_LAZY: dict[str, str] = {
    "Case": "case",
    "EditingSession": "editing",
    "find_cases": "case",
    "ConvertOptions": "convert",
    "ConvertReport": "convert",
    "convert": "convert",
    "load_series": "dicom_read",
    "ScanResult": "dicom_scan",
    "Stack": "dicom_scan",
    "find_series": "dicom_scan",
    "CtlabelError": "errors",
    "load_image": "image_io",
    "save_image": "image_io",
    "InterpolationResult": "interpolate",
    "interpolate": "interpolate",
    "interpolate_with_report": "interpolate",
    "Label": "labels",
    "LabelTable": "labels",
    "default_label_table": "labels",
    "read_label_table": "labels",
    "Mask": "mask_io",
    "load_mask": "mask_io",
    "save_mask": "mask_io",
    "Grid": "volume",
    "SourceIdentity": "volume",
    "Volume": "volume",
}

if TYPE_CHECKING:  # static type checkers and IDEs see the real names
    from ctlabel.case import Case, find_cases
    from ctlabel.convert import ConvertOptions, ConvertReport, convert
    from ctlabel.dicom_read import load_series
    from ctlabel.dicom_scan import ScanResult, Stack, find_series
    from ctlabel.editing import EditingSession
    from ctlabel.errors import CtlabelError
    from ctlabel.image_io import load_image, save_image
    from ctlabel.interpolate import InterpolationResult, interpolate, interpolate_with_report
    from ctlabel.labels import Label, LabelTable, default_label_table, read_label_table
    from ctlabel.mask_io import Mask, load_mask, save_mask
    from ctlabel.volume import Grid, SourceIdentity, Volume

__all__ = [
    "Case",
    "EditingSession",
    "ConvertOptions",
    "ConvertReport",
    "CtlabelError",
    "Grid",
    "InterpolationResult",
    "Label",
    "LabelTable",
    "Mask",
    "ScanResult",
    "SourceIdentity",
    "Stack",
    "Volume",
    "__version__",
    "convert",
    "default_label_table",
    "find_cases",
    "find_series",
    "interpolate",
    "interpolate_with_report",
    "load_image",
    "load_mask",
    "load_series",
    "read_label_table",
    "save_image",
    "save_mask",
]


def __getattr__(name: str) -> object:
    """Import the submodule defining a public name on first access (PEP 562).

    Parameters
    ----------
    name : str
        Attribute looked up on the package.

    Returns
    -------
    object
        The public object, cached in the package namespace so later lookups do not
        come back here; or the submodule ``ctlabel.<name>``, imported.

    Raises
    ------
    AttributeError
        ``name`` is neither a public name nor a submodule of ctlabel.
    """
    module = _LAZY.get(name)
    if module is None:
        # ``import ctlabel`` used to import most submodules; ``ctlabel.volume`` still works.
        if not name.startswith("_"):
            from importlib.util import find_spec

            if find_spec(f"{__name__}.{name}") is not None:
                return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """The ctlabel package module, keeping functions named like their submodule.

    ``convert`` and ``interpolate`` are both submodules and public functions. Importing
    a submodule (``from ctlabel.convert import convert``) makes the import system set
    the package attribute to the submodule; this keeps the function there instead, as
    the eager ``from ctlabel.convert import convert`` of the package always did.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if (
            isinstance(value, types.ModuleType)
            and _LAZY.get(name) == name
            and value.__name__ == f"{self.__name__}.{name}"
            and hasattr(value, name)
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    """Module attributes plus the lazily imported public names.

    Returns
    -------
    list of str
        Sorted names, as ``dir(ctlabel)`` shows them.
    """
    return sorted(set(globals()) | set(__all__))
