"""ctlabel: CT segmentation labeling toolkit (core library, no GUI).

The core never imports napari, Qt or magicgui; ``plugins/`` holds the napari plugin.
"""

__version__ = "0.1.0"

from ctlabel.case import Case, find_cases
from ctlabel.convert import ConvertOptions, ConvertReport, convert
from ctlabel.dicom_read import load_series
from ctlabel.dicom_scan import ScanResult, Stack, find_series
from ctlabel.errors import CtlabelError
from ctlabel.image_io import load_image, save_image
from ctlabel.interpolate import InterpolationResult, interpolate, interpolate_with_report
from ctlabel.labels import Label, LabelTable, default_label_table, read_label_table
from ctlabel.mask_io import Mask, load_mask, save_mask
from ctlabel.volume import Grid, SourceIdentity, Volume

__all__ = [
    "Case",
    "ConvertOptions",
    "ConvertReport",
    "CtlabelError",
    "Grid",
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
    "InterpolationResult",
    "InterpolationResult",
    "interpolate",
    "interpolate_with_report",
    "load_image",
    "load_mask",
    "load_series",
    "read_label_table",
    "save_image",
    "save_mask",
]
