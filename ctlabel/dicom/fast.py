"""A fast reader for the few header attributes the scan needs from plain image files.

pydicom builds a full data set for every file, which dominates the time of
scanning a series. For the common case (a Part 10 file, explicit or implicit VR
little endian data set, one frame, no functional groups) this walks the
elements once, skips everything it does not need (sequences included), keeps
the attributes listed in :data:`WANTED`, and stops at the pixel data.

Whenever anything is unusual (big endian or deflated syntax, a non-ASCII value
it needs, functional groups, references, no pixel data, a malformed length) it
returns None and the caller reads the file with pydicom. The tests check that
both paths give identical results on every shared file.
"""

from __future__ import annotations

import struct

#: tag -> (keyword, VR) of the attributes the scan reads.
WANTED: dict[int, tuple[str, str]] = {
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080060: ("Modality", "CS"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00180050: ("SliceThickness", "DS"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200012: ("AcquisitionNumber", "IS"),
    0x00200013: ("InstanceNumber", "IS"),
    0x00200032: ("ImagePositionPatient", "DS"),
    0x00200037: ("ImageOrientationPatient", "DS"),
    0x00200052: ("FrameOfReferenceUID", "UI"),
    0x00200100: ("TemporalPositionIdentifier", "IS"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280004: ("PhotometricInterpretation", "CS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280030: ("PixelSpacing", "DS"),
    0x00280100: ("BitsAllocated", "US"),
    0x00280101: ("BitsStored", "US"),
    0x00280103: ("PixelRepresentation", "US"),
    0x00281052: ("RescaleIntercept", "DS"),
    0x00281053: ("RescaleSlope", "DS"),
    # Identifying values, kept only to clean descriptions (ctlabel.deid); a non-ASCII or
    # multi-valued one sends the file to pydicom.
    0x00100010: ("PatientName", "PN"),
    0x00100020: ("PatientID", "LO"),
    0x00101000: ("OtherPatientIDs", "LO"),
    0x00101001: ("OtherPatientNames", "PN"),
    0x00101005: ("PatientBirthName", "PN"),
    0x00101060: ("PatientMotherBirthName", "PN"),
    0x00100030: ("PatientBirthDate", "DA"),
    0x00101040: ("PatientAddress", "LO"),
    0x00102154: ("PatientTelephoneNumbers", "SH"),
    0x00080050: ("AccessionNumber", "SH"),
    0x00200010: ("StudyID", "SH"),
    0x00080080: ("InstitutionName", "LO"),
    0x00080081: ("InstitutionAddress", "ST"),
    0x00081040: ("InstitutionalDepartmentName", "LO"),
    0x00080090: ("ReferringPhysicianName", "PN"),
    0x00081050: ("PerformingPhysicianName", "PN"),
    0x00081060: ("NameOfPhysiciansReadingStudy", "PN"),
    0x00081048: ("PhysiciansOfRecord", "PN"),
    0x00081070: ("OperatorsName", "PN"),
    0x00321032: ("RequestingPhysician", "PN"),
    0x00081010: ("StationName", "SH"),
    0x00181000: ("DeviceSerialNumber", "LO"),
    0x00280301: ("BurnedInAnnotation", "CS"),
}
#: Attributes that are always lists (pydicom gives a MultiValue even for one value of these here).
_LISTS = {"ImageType", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"}
#: Top-level attributes that send the file to pydicom.
_BAIL = {
    0x52009229, 0x52009230,  # Shared / PerFrame functional groups
    0x00081115, 0x30060010, 0x0040A375,  # references of non-image objects
    0x00041220,  # DirectoryRecordSequence
    0x00080005,  # SpecificCharacterSet other than the default is checked below
}
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"UT", b"SQ", b"UC", b"UR"}
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_OR_DEFLATED = ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")
PIXEL_DATA = 0x7FE00010
_HEAD_BYTES = 1 << 18
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")


class _Bail(Exception):
    pass


class FastHeader:
    """The attributes :data:`WANTED` of one file, read like a pydicom data set (``get``, ``in``)."""

    def __init__(self, values: dict, file_meta: dict, pixel: tuple[bool, int, int]):
        self._values = values
        self.file_meta = file_meta
        #: (long VR header, value length, value offset) of the PixelData element
        self.pixel = pixel

    def get(self, key: str, default=None):
        return self._values.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._values


def _text(raw: bytes) -> str:
    if not raw.isascii():
        raise _Bail  # character sets are pydicom's job
    return raw.decode("ascii").strip(" \x00")


def _decode(keyword: str, vr: str, raw: bytes):
    if vr == "US":
        if len(raw) != 2:
            raise _Bail
        return _U16.unpack(raw)[0]
    text = _text(raw)
    if keyword in _LISTS:
        return text.split("\\") if text else []
    if "\\" in text:
        raise _Bail
    if not text and vr in ("IS", "DS"):
        return None  # as pydicom gives an empty number
    return text


def _item_end(b: bytes, pos: int, explicit: bool, depth: int) -> int:
    """Skip the elements of an undefined-length item; return the position after its delimiter."""
    while True:
        pos, done = _element(b, pos, explicit, depth, None)
        if done:
            return pos


def _sequence_end(b: bytes, pos: int, explicit: bool, depth: int) -> int:
    """Skip the items of an undefined-length sequence; return the position after its delimiter."""
    if depth > 8:
        raise _Bail
    while True:
        if pos + 8 > len(b):
            raise _Bail
        group, elem = _TAG.unpack_from(b, pos)
        length = _U32.unpack_from(b, pos + 4)[0]
        if (group, elem) == (0xFFFE, 0xE0DD):
            return pos + 8
        if (group, elem) != (0xFFFE, 0xE000):
            raise _Bail
        pos = _item_end(b, pos + 8, explicit, depth + 1) if length == 0xFFFFFFFF else pos + 8 + length


def _element(b: bytes, pos: int, explicit: bool, depth: int, out: dict | None):
    """Read one element at ``pos``; return (next position, item-delimiter reached)."""
    if pos + 8 > len(b):
        raise _Bail
    group, elem = _TAG.unpack_from(b, pos)
    tag = (group << 16) | elem
    if group == 0xFFFE:
        if elem == 0xE00D and depth > 0:
            return pos + 8, True
        raise _Bail
    vr = None
    if explicit:
        vr = b[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            length, value = _U32.unpack_from(b, pos + 8)[0], pos + 12
        else:
            length, value = _U16.unpack_from(b, pos + 6)[0], pos + 8
    else:
        length, value = _U32.unpack_from(b, pos + 4)[0], pos + 8
    if depth == 0 and out is not None:
        if tag == PIXEL_DATA:
            out["__pixel__"] = (vr in _LONG_VRS if explicit else False, length, value)
            return pos, True
        if tag in _BAIL:
            _bail_unless_plain_charset(b, tag, value, length)
    if length == 0xFFFFFFFF:
        if explicit and vr not in (b"SQ",):
            raise _Bail  # e.g. UN with undefined length, encapsulated data inside an item
        return _sequence_end(b, value, explicit, depth + 1), False
    end = value + length
    if end > len(b):
        raise _Bail
    if depth == 0 and out is not None and tag in WANTED:
        keyword, want_vr = WANTED[tag]
        if vr is not None and vr.decode("ascii", "replace") != want_vr:  # vr is read when explicit
            raise _Bail
        out[keyword] = _decode(keyword, want_vr, b[value:end])
    return end, False


def _bail_unless_plain_charset(b: bytes, tag: int, value: int, length: int) -> None:
    """A tag of ``_BAIL`` at the top level: bail, unless it is a character set the fast path reads."""
    if tag != 0x00080005:
        raise _Bail
    cs = _text(b[value : value + length]) if length != 0xFFFFFFFF else "?"
    if cs not in ("", "ISO_IR 100", "ISO_IR 6", "ISO_IR 192"):
        raise _Bail


def read_fast_header(path) -> FastHeader | None:
    """The wanted attributes and the pixel data position of a plain image file, or None."""
    for size in (1 << 15, _HEAD_BYTES):  # most headers fit in 32 KiB; retry larger once
        header = _read_fast_header(path, size)
        if header is not _TOO_SHORT:
            return header
    return None


_TOO_SHORT = object()


def _read_fast_header(path, size: int):
    try:
        with open(path, "rb") as f:
            b = f.read(size)
        whole_file = len(b) < size
        if len(b) < 144 or b[128:132] != b"DICM":
            return None
        # File meta information: explicit VR little endian, group 0002.
        pos, meta = 132, {}
        while pos + 8 <= len(b) and _TAG.unpack_from(b, pos)[0] == 0x0002:
            group, elem = _TAG.unpack_from(b, pos)
            vr = b[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                length, value = _U32.unpack_from(b, pos + 8)[0], pos + 12
            else:
                length, value = _U16.unpack_from(b, pos + 6)[0], pos + 8
            if elem == 0x0010:
                meta["TransferSyntaxUID"] = _text(b[value : value + length])
            elif elem == 0x0002:
                meta["MediaStorageSOPClassUID"] = _text(b[value : value + length])
            pos = value + length
        ts = meta.get("TransferSyntaxUID", "")
        if not ts or ts in _BIG_OR_DEFLATED:
            return None
        explicit = ts != _IMPLICIT_LE
        values: dict = {}
        while True:
            pos, done = _element(b, pos, explicit, 0, values)
            if done:
                break
        pixel = values.pop("__pixel__", None)
        if pixel is None:
            return None
        return FastHeader(values, meta, pixel)
    except _Bail:
        # a bail in a partial buffer may only mean the header runs past it
        return None if whole_file or size == _HEAD_BYTES else _TOO_SHORT
    except (struct.error, UnicodeDecodeError, OSError):
        return None
