"""Tar headers for layer application: a faster ustar decoder on top of tarfile, the member loop, times, xattrs.

Decodes only; never touches the file system. tarfile still handles PAX, GNU long names and sparse files, and
parses every header that is not a plain one.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

from dockyard.errors import InvalidArgument
from dockyard.image import whiteouts
from dockyard.image.layerstream import LayerReader

_MAX_SPECIAL = 1 << 20  # longest PAX or GNU long-name header accepted (Go's archive/tar: maxSpecialFileSize)
_PLAIN_TYPES = frozenset((tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE))
_PLAIN_TYPES |= {tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE}
_BLOCK_MASK = tarfile.BLOCKSIZE - 1
_LINK_TYPES = (tarfile.SYMTYPE, tarfile.LNKTYPE)
_DEVICE_TYPES = (tarfile.CHRTYPE, tarfile.BLKTYPE)
_SPECIAL_TYPES = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


class FastTarInfo(tarfile.TarInfo):
    """tarfile's TarInfo with a quicker ustar/GNU header decoder and a bound on PAX / GNU long-name headers.

    Decoding headers is most of the per-entry cost of extraction; anything unusual (base-256 numbers, old GNU
    sparse files, pre-POSIX headers, signed checksums) goes to tarfile's own decoder.
    """

    @classmethod
    def frombuf(cls, buf: bytes, encoding: str, errors: str) -> FastTarInfo:
        kind = buf[156:157]
        if len(buf) != tarfile.BLOCKSIZE or buf[257:262] != b"ustar" or kind == tarfile.GNUTYPE_SPARSE:
            return super().frombuf(buf, encoding, errors)
        # int() skips surrounding whitespace, as tarfile's nti() does after cutting at the first NUL: with NULs
        # made spaces, a field that is not one octal number ("12\0junk", all blanks) fails and goes to tarfile.
        nums = buf[100:156].replace(b"\0", b" ")
        try:
            mode, uid, gid = int(nums[:8], 8), int(nums[8:16], 8), int(nums[16:24], 8)
            size, mtime, chksum = int(nums[24:36], 8), int(nums[36:48], 8), int(nums[48:], 8)
            devmajor = devminor = 0
            if kind in _DEVICE_TYPES:
                devs = buf[329:345].replace(b"\0", b" ")
                devmajor, devminor = int(devs[:8], 8), int(devs[8:], 8)
        except ValueError:
            return super().frombuf(buf, encoding, errors)
        if chksum != header_sum(buf):
            return super().frombuf(buf, encoding, errors)
        obj = cls()
        name = _nts(buf[:100], encoding, errors)
        obj.mode, obj.uid, obj.gid, obj.size, obj.mtime, obj.chksum = mode, uid, gid, size, mtime, chksum
        obj.type = kind
        if kind in _LINK_TYPES:
            obj.linkname = _nts(buf[157:257], encoding, errors)
        obj.uname = obj.gname = ""  # owners are numeric in layers: the names are never decoded
        obj.devmajor, obj.devminor = devmajor, devminor
        if kind == tarfile.AREGTYPE and name.endswith("/"):
            obj.type = kind = tarfile.DIRTYPE
        if kind == tarfile.DIRTYPE:
            name = name.rstrip("/")
        if buf[345:346] != b"\0" and kind not in tarfile.GNU_TYPES:
            name = _nts(buf[345:500], encoding, errors) + "/" + name
        obj.name = name
        return obj

    def _proc_member(self, tf: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _SPECIAL_TYPES and self.size > _MAX_SPECIAL:
            raise InvalidArgument(f"apply layer: tar header of {self.size} bytes is too large")
        member: tarfile.TarInfo = super()._proc_member(tf)  # type: ignore[misc]
        return member


def header_sum(buf: bytes) -> int:
    """The ustar checksum of a 512-byte header: its unsigned byte sum with the checksum field read as spaces.

    Summing 512 bytes in Python costs ~2 µs per entry; Adler-32's first half is the byte sum modulo 65521, and a
    256-byte half sums to at most 65280, so adler32(half, 0) & 0xFFFF is that half's exact sum, computed in C.
    """
    view = memoryview(buf)
    low = zlib.adler32(view[:256], 0) & 0xFFFF
    high = zlib.adler32(view[256:], 0) & 0xFFFF
    return low + high + 256 - sum(view[148:156])


def _nts(field: bytes, encoding: str, errors: str) -> str:
    end = field.find(b"\0")
    return (field if end < 0 else field[:end]).decode(encoding, errors)


class PlainFile(NamedTuple):
    """A regular file with a plain ustar header (most entries of a layer), decoded without a TarInfo.

    Carries the TarInfo attributes that file creation reads, so both can go down the same path.
    """

    name: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    pax_headers: dict[str, str]
    sparse: None = None

    def tarinfo(self) -> tarfile.TarInfo:
        """The same entry as a TarInfo, for the general path (names that need cleaning, whiteouts)."""
        m = FastTarInfo(self.name)
        m.mode, m.uid, m.gid, m.size, m.mtime = self.mode, self.uid, self.gid, self.size, self.mtime
        m.type = tarfile.REGTYPE
        return m


_NO_PAX: dict[str, str] = {}
_adler = zlib.adler32
_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)
# The mode, uid and gid fields (24 bytes, NULs made spaces) -> their values. Shared by concurrent applications:
# get, set and clear are each atomic under the GIL and an entry's value depends only on its key, so a race can
# only cost a re-parse. Cleared when full: a hostile layer cannot grow it without bound.
_ids: dict[bytes, tuple[int, int, int]] = {}
_MAX_IDS = 4096
_new_plain = tuple.__new__


known_ids = _ids.get  # the decoded mode, uid and gid of a 24-byte field seen before, else None


def plain_ids(field: bytes) -> tuple[int, int, int]:
    """Mode, uid and gid from the 24 bytes of their fields (NULs made spaces), remembered; ValueError if bad."""
    ids = _ids[field] = (int(field[:8], 8), int(field[8:16], 8), int(field[16:24], 8))
    if len(_ids) > _MAX_IDS:
        _ids.clear()
    return ids


def plain_file(buf: bytes) -> PlainFile | None:
    """The header in `buf` as a PlainFile when it is a regular file in a ustar header with nothing unusual.

    None for anything else (other types, a name prefix, a directory-looking name, numbers or a checksum that
    need tarfile's decoder): FastTarInfo decodes those. Agrees field by field with FastTarInfo.frombuf.
    """
    if buf[156:157] not in _FILE_TYPES or buf[257:262] != b"ustar" or buf[345:346] != b"\0":
        return None
    nums = buf[100:156].replace(b"\0", b" ")
    try:
        chksum = int(nums[48:], 8)
        # header_sum(), inlined (every sum in C): this runs once per file of a layer
        low, high, field = _adler(buf[:256], 0), _adler(buf[256:], 0), _adler(buf[148:156], 0)
        if chksum != (low & 0xFFFF) + (high & 0xFFFF) + 256 - (field & 0xFFFF):
            return None
        # mode, uid and gid repeat from file to file: a field seen before costs a dict lookup, not an int()
        ids = known_ids(nums[:24])
        if ids is None:
            ids = plain_ids(nums[:24])
        size, mtime = int(nums[24:36], 8), int(nums[36:48], 8)
    except ValueError:
        return None
    name = buf[:100].partition(b"\0")[0].decode("utf-8", "surrogateescape")
    if name.endswith("/"):
        return None
    return _new_plain(PlainFile, (name, *ids, size, mtime, _NO_PAX, None))  # PlainFile() without its frame


def members(
    tf: tarfile.TarFile, reader: LayerReader, run: Callable[[int], int] | None = None
) -> Iterator[tarfile.TarInfo | PlainFile]:
    """TarFile.next without its bookkeeping: plain headers are decoded here, PAX / GNU ones by tarfile.

    Ends at the end-of-archive block or at end of data; the caller then tells a clean end from a cut or a bad one.
    A PlainFile's data starts at the reader's position, as a TarInfo's does. `run(offset)`, called before each
    header while no global PAX header applies, may consume entries itself (a run of plain files straight from
    the reader's chunk) and returns the offset of the first header it left.
    """
    first = tf.firstmember  # type: ignore[attr-defined]
    if first is None:
        return
    tf.firstmember = None  # type: ignore[attr-defined]
    yield first
    decode = FastTarInfo.frombuf
    block_at = reader.block_at
    offset = tf.offset
    while True:
        if run is not None and not tf.pax_headers:
            offset = run(offset)
        buf = block_at(offset, tarfile.BLOCKSIZE)
        if buf is None:
            raise InvalidArgument("apply layer: unexpected end of data")
        if not tf.pax_headers and (plain := plain_file(buf)) is not None:
            offset += tarfile.BLOCKSIZE + ((plain.size + _BLOCK_MASK) & ~_BLOCK_MASK)
            yield plain
            continue
        try:
            header = decode(buf, "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            return
        header.offset = offset
        m: tarfile.TarInfo = header
        kind = m.type
        if kind in _PLAIN_TYPES and not tf.pax_headers:
            m.offset_data = data = offset + tarfile.BLOCKSIZE
            size = m.size if kind in tarfile.REGULAR_TYPES else 0
            tf.offset = data + ((size + _BLOCK_MASK) & ~_BLOCK_MASK)
        else:
            try:
                m = header._proc_member(tf)
            except tarfile.HeaderError as err:
                raise InvalidArgument(f"apply layer: invalid tar header: {err}") from err
        offset = tf.offset
        yield m


def _pax_ns(value: str) -> int:
    """A PAX time ("1700000000.123456789", maybe negative) in nanoseconds, without float rounding."""
    sign = -1 if value.startswith("-") else 1
    whole, _, frac = value.lstrip("-").partition(".")
    return sign * (int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9]))


def entry_times(m: tarfile.TarInfo | PlainFile) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds; atime is never before mtime (moby's rule)."""
    pax = m.pax_headers
    if not pax:
        mtime = int(m.mtime) * 1_000_000_000
        return mtime, mtime
    try:
        mtime = _pax_ns(pax["mtime"]) if "mtime" in pax else int(m.mtime) * 1_000_000_000
        atime = _pax_ns(pax["atime"]) if "atime" in pax else mtime
    except ValueError:  # a malformed PAX time: keep what the ustar field says
        mtime = atime = int(m.mtime) * 1_000_000_000
    return max(atime, mtime), mtime


def entry_xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    """The PAX `SCHILY.xattr.*` records as (name, raw bytes), without overlayfs' own."""
    out = []
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr.") :]
            if not whiteouts.is_overlay_xattr(name):
                out.append((name, value.encode("utf-8", "surrogateescape")))
    return out
