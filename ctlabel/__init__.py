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
    "EditingSession": "case.editing",
    "Edits": "case.editing",
    "Case": "case.folder",
    "find_cases": "case.folder",
    "CaseLock": "case.lock",
    "submission_qa": "case.qa_gate",
    "load_case_record": "case.record",
    "version_name": "case.record",
    "version_number": "case.record",
    "autosave_interval": "case.recovery",
    "clear_journal": "case.recovery",
    "add_version": "case.review",
    "ReviewSession": "case.access",
    "save_draft": "case.review",
    "save_label_table": "case.review",
    "VersionDiff": "measure.version_diff",
    "convert": "intake.convert",
    "ConvertOptions": "intake.convert",
    "ConvertReport": "intake.convert",
    "load_series": "dicom.read",
    "find_series": "dicom.scan",
    "ScanResult": "dicom.stacks",
    "Stack": "dicom.stacks",
    "CaseError": "errors",
    "CtlabelError": "errors",
    "GeometryError": "errors",
    "LockError": "errors",
    "SeriesError": "errors",
    "interpolate": "interpolate",
    "interpolate_with_report": "interpolate",
    "InterpolationResult": "interpolate",
    "write_json": "io.atomic",
    "load_image": "io.image",
    "save_image": "io.image",
    "default_label_table": "io.labels",
    "Label": "io.labels",
    "LabelTable": "io.labels",
    "read_label_table": "io.labels",
    "TISSUES": "io.labels",
    "labels_present": "io.mask",
    "load_mask": "io.mask",
    "Mask": "io.mask",
    "save_mask": "io.mask",
    "read_sidecar": "io.provenance",
    "sidecar_path": "io.provenance",
    "CaseState": "model",
    "SliceEdits": "model",
    "Prelabeler": "prelabel.prelabeler",
    "close_stroke_holes": "painting.hu_stroke",
    "hu_range_mask": "painting.region_grow",
    "region_grow": "painting.region_grow",
    "Record": "painting.tracking",
    "SliceTracker": "painting.tracking",
    "touched_from_box": "painting.tracking",
    "touched_from_diff": "painting.tracking",
    "touched_from_indices": "painting.tracking",
    "Finding": "qa",
    "QAGroups": "qa.groups",
    "make_phantom": "intake.synthetic",
    "Client": "team.client",
    "ClientError": "team.client",
    "load_login": "team.login",
    "save_login": "team.login",
    "duration_text": "progress",
    "Grid": "volume",
    "SourceIdentity": "volume",
    "spacing_from_affine": "volume",
    "Volume": "volume",
}

if TYPE_CHECKING:  # static type checkers and IDEs see the real names
    from ctlabel.case.access import ReviewSession
    from ctlabel.case.editing import EditingSession, Edits
    from ctlabel.case.folder import Case, find_cases
    from ctlabel.case.lock import CaseLock
    from ctlabel.case.qa_gate import submission_qa
    from ctlabel.case.record import load_case_record, version_name, version_number
    from ctlabel.case.recovery import autosave_interval, clear_journal
    from ctlabel.case.review import add_version, save_draft, save_label_table
    from ctlabel.dicom.read import load_series
    from ctlabel.dicom.scan import find_series
    from ctlabel.dicom.stacks import ScanResult, Stack
    from ctlabel.errors import CaseError, CtlabelError, GeometryError, LockError, SeriesError
    from ctlabel.intake.convert import ConvertOptions, ConvertReport, convert
    from ctlabel.intake.synthetic import make_phantom
    from ctlabel.interpolate import InterpolationResult, interpolate, interpolate_with_report
    from ctlabel.io.atomic import write_json
    from ctlabel.io.image import load_image, save_image
    from ctlabel.io.labels import TISSUES, Label, LabelTable, default_label_table, read_label_table
    from ctlabel.io.mask import Mask, labels_present, load_mask, save_mask
    from ctlabel.io.provenance import read_sidecar, sidecar_path
    from ctlabel.measure.version_diff import VersionDiff
    from ctlabel.model import CaseState, SliceEdits
    from ctlabel.painting.hu_stroke import close_stroke_holes
    from ctlabel.painting.region_grow import hu_range_mask, region_grow
    from ctlabel.painting.tracking import (
        Record,
        SliceTracker,
        touched_from_box,
        touched_from_diff,
        touched_from_indices,
    )
    from ctlabel.prelabel.prelabeler import Prelabeler
    from ctlabel.progress import duration_text
    from ctlabel.qa import Finding
    from ctlabel.qa.groups import QAGroups
    from ctlabel.team.client import Client, ClientError
    from ctlabel.team.login import load_login, save_login
    from ctlabel.volume import Grid, SourceIdentity, Volume, spacing_from_affine

__all__ = [
    "Case",
    "CaseError",
    "CaseLock",
    "CaseState",
    "Client",
    "ClientError",
    "ConvertOptions",
    "ConvertReport",
    "CtlabelError",
    "EditingSession",
    "Edits",
    "Finding",
    "GeometryError",
    "Grid",
    "InterpolationResult",
    "Label",
    "LabelTable",
    "LockError",
    "Mask",
    "Prelabeler",
    "QAGroups",
    "Record",
    "ReviewSession",
    "ScanResult",
    "SeriesError",
    "SliceEdits",
    "SliceTracker",
    "SourceIdentity",
    "Stack",
    "TISSUES",
    "VersionDiff",
    "Volume",
    "__version__",
    "add_version",
    "autosave_interval",
    "clear_journal",
    "close_stroke_holes",
    "convert",
    "default_label_table",
    "duration_text",
    "find_cases",
    "find_series",
    "hu_range_mask",
    "interpolate",
    "interpolate_with_report",
    "labels_present",
    "load_image",
    "load_login",
    "load_mask",
    "load_case_record",
    "load_series",
    "make_phantom",
    "read_label_table",
    "read_sidecar",
    "region_grow",
    "save_draft",
    "save_image",
    "save_label_table",
    "save_login",
    "save_mask",
    "sidecar_path",
    "spacing_from_affine",
    "submission_qa",
    "touched_from_box",
    "touched_from_diff",
    "touched_from_indices",
    "version_name",
    "version_number",
    "write_json",
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
    a submodule (``from ctlabel.intake.convert import convert``) makes the import system set
    the package attribute to the submodule; this keeps the function there instead, as
    the eager ``from ctlabel.intake.convert import convert`` of the package always did.
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
