"""Deflated files (Deflated Explicit VR Little Endian), inflated within a bound the header sets.

pydicom inflates the whole data set of a deflated file before it reads a single element: a
3 MB file that inflates to 9.5 GB took that much memory before anything could refuse it. Here
the data set is inflated in steps with ``zlib.decompressobj(...).decompress(data, max_length)``:
first at most :data:`HEADER_ALLOWANCE` bytes, enough to reach the pixel data of any real header;
then at most what that header declares (Rows x Columns x frames x samples x BitsAllocated / 8)
plus :data:`TRAILER_ALLOWANCE`. A file that inflates past either is refused with
:class:`~ctlabel.errors.DicomReadError` naming it; memory never grows past the bound.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

from ctlabel.errors import DicomReadError

DEFLATED = "1.2.840.10008.1.2.1.99"
#: Inflated bytes allowed before the pixel data (headers of real images are far smaller).
HEADER_ALLOWANCE = 8 * 1024 * 1024
#: Inflated bytes allowed after the declared pixel data (padding, private trailing elements).
TRAILER_ALLOWANCE = 1024 * 1024
_CHUNK = 1 << 16
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"UT", b"SQ", b"UC", b"UR"}
_PIXEL_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}


def _meta_end(head: bytes) -> tuple[int, str] | None:
    """The offset where the data set starts after the file meta, and the transfer syntax; None if no Part 10."""
    if len(head) < 144 or head[128:132] != b"DICM":
        return None
    pos, syntax = 132, ""
    while pos + 8 <= len(head) and struct.unpack_from("<H", head, pos)[0] == 0x0002:
        elem = struct.unpack_from("<H", head, pos + 2)[0]
        if head[pos + 4 : pos + 6] in _LONG_VRS:
            if pos + 12 > len(head):
                return None
            length, value = struct.unpack_from("<I", head, pos + 8)[0], pos + 12
        else:
            length, value = struct.unpack_from("<H", head, pos + 6)[0], pos + 8
        if elem == 0x0010:
            syntax = head[value : value + length].decode("ascii", "replace").strip(" \x00")
        pos = value + length
    return pos, syntax


class _Inflater:
    """Raw deflate output of a file, taken in bounded steps."""

    def __init__(self, f) -> None:
        self._f = f
        self._d = zlib.decompressobj(-zlib.MAX_WBITS)
        self.out = bytearray()

    def fill(self, limit: int) -> bool:
        """Inflate until ``out`` holds ``limit`` bytes or the stream ends; True when nothing is left beyond.

        Memory stays within ``limit`` plus one input chunk and zlib's 32 KiB window.
        """
        while len(self.out) < limit and not self._d.eof:
            data = self._d.unconsumed_tail or self._f.read(_CHUNK)
            if not data:  # the input ends before the stream does (a damaged file: pydicom says so)
                self.out += self._d.flush()
                return len(self.out) <= limit
            self.out += self._d.decompress(data, limit - len(self.out))
        while not self._d.eof:  # the limit is reached: is there anything more?
            data = self._d.unconsumed_tail or self._f.read(_CHUNK)
            more = self._d.decompress(data, 1) if data else self._d.flush()
            self.out += more
            if more or not data:
                return not more
        return True


def _declared(buf: bytes) -> tuple[int, int] | None:
    """(offset of the pixel data element, bytes the header declares for it) in an inflated data set."""
    from pydicom.filereader import read_dataset

    fp = io.BytesIO(buf)
    try:
        ds = read_dataset(fp, False, True, stop_when=lambda tag, vr, length: int(tag) in _PIXEL_TAGS)
        at = fp.tell()
        if at + 4 > len(buf):
            return None
        group, elem = struct.unpack_from("<HH", buf, at)
        if (group << 16 | elem) not in _PIXEL_TAGS:
            return None
        values = [int(ds.get(k, 1) or 1) for k in ("Rows", "Columns", "NumberOfFrames", "SamplesPerPixel")]
        bits = int(ds.get("BitsAllocated", 16) or 16)
    except Exception:  # noqa: BLE001 - a header cut short or malformed: no declared size
        return None
    rows, cols, frames, samples = values
    return at, (rows * cols * frames * samples * max(bits, 1) + 7) // 8


def inflated_file(path: str | os.PathLike):
    """A file object holding a deflated file's data set inflated (as Explicit VR Little Endian), or None.

    None means the file is not deflated (read it as it is). The file meta of the returned
    object names Explicit VR Little Endian; the caller restores the original syntax on
    the data set if it needs it.

    Raises
    ------
    DicomReadError
        The data set inflates past :data:`HEADER_ALLOWANCE` before its pixel data, past what
        its header declares, or is not valid deflate data.
    """
    import pydicom
    from pydicom.filewriter import write_file_meta_info

    with open(path, "rb") as f:
        head = f.read(_CHUNK)
        found = _meta_end(head)
        if found is None or found[1] != DEFLATED:
            return None
        f.seek(found[0])
        inflater = _Inflater(f)
        try:
            ended = inflater.fill(HEADER_ALLOWANCE)
            if not ended:
                declared = _declared(bytes(inflater.out))
                if declared is None:
                    raise DicomReadError(f"the deflated data set inflates past {HEADER_ALLOWANCE} bytes before its"
                                         " pixel data: refused (a deflate bomb?)", path)
                at, need = declared
                limit = at + 12 + need + 1 + TRAILER_ALLOWANCE
                if not inflater.fill(limit):
                    raise DicomReadError(f"the deflated data set inflates past {limit} bytes, more than its header"
                                         f" declares ({need} bytes of pixel data): refused (a deflate bomb?)", path)
        except zlib.error as exc:
            raise DicomReadError(f"the deflated data set is not valid deflate data ({exc})", path) from None
    meta = pydicom.filereader.read_file_meta_info(path)
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    buf = pydicom.filebase.DicomBytesIO()
    buf.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)
    buf.write(bytes(inflater.out))
    out = io.BytesIO(buf.getvalue())
    out.name = os.fspath(path)
    return out


__all__ = ["DEFLATED", "HEADER_ALLOWANCE", "TRAILER_ALLOWANCE", "inflated_file"]
