"""Export reviewed cases as a training set: nnU-Net v2, MONAI datalist or BIDS derivatives.

``ctlabel export-dataset PROJECT_OR_CASES... OUT --format nnunet|monai|bids`` (see
``docs/export.md``). Every export writes ``ctlabel_manifest.json`` beside the data: per case
the source UIDs, the version, annotator and reviewer, and the voxel and label table hashes
that tie each training label to the decision that approved it.

The names below load lazily, so that registering the command (``ctlabel --help``) imports
no numerical library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctlabel.export.run import FORMATS, ExportOptions, ExportReport, export_dataset

__all__ = ["FORMATS", "ExportOptions", "ExportReport", "export_dataset"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ctlabel.export.run"), name)
    raise AttributeError(f"module 'ctlabel.export' has no attribute {name!r}")
