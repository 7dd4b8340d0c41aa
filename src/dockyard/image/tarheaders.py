"""Tar headers for layer application: a faster ustar decoder on top of tarfile, the member loop, times, xattrs.

Decodes only; never touches the file system. tarfile still handles PAX, GNU long names and sparse files, and
parses every header that is not a plain one.
"""

from __future__ import annotations

import struct
import tarfile
from collections.abc import Iterator

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
        if len(buf) != tarfile.BLOCKSIZE or buf[257:262] != b"ustar" or buf[156:157] == tarfile.GNUTYPE_SPARSE:
            return super().frombuf(buf, encoding, errors)
        fields = _HEADER.unpack_from(buf)
        kind = fields[7]
        try:
            mode, uid, gid, size, mtime, chksum = [int(fields[i].rstrip(b" \0") or b"0", 8) for i in range(1, 7)]
            devices = kind in _DEVICE_TYPES
            devmajor, devminor = [int(fields[i].rstrip(b" \0") or b"0", 8) for i in (13, 14)] if devices else (0, 0)
        except ValueError:
            return super().frombuf(buf, encoding, errors)
        if chksum != 256 + sum(buf) - sum(buf[148:156]):
            return super().frombuf(buf, encoding, errors)
        obj = cls()
        name = _nts(fields[0], encoding, errors)
        obj.mode, obj.uid, obj.gid, obj.size, obj.mtime, obj.chksum = mode, uid, gid, size, mtime, chksum
        obj.type = kind
        if kind in _LINK_TYPES:
            obj.linkname = _nts(fields[8], encoding, errors)
        obj.uname = obj.gname = ""  # owners are numeric in layers: the names are never decoded
        obj.devmajor, obj.devminor = devmajor, devminor
        if kind == tarfile.AREGTYPE and name.endswith("/"):
            obj.type = kind = tarfile.DIRTYPE
        if kind == tarfile.DIRTYPE:
            name = name.rstrip("/")
        prefix = fields[15]
        if prefix[:1] not in (b"", b"\0") and kind not in tarfile.GNU_TYPES:
            name = _nts(prefix, encoding, errors) + "/" + name
        obj.name = name
        return obj

    def _proc_member(self, tf: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _SPECIAL_TYPES and self.size > _MAX_SPECIAL:
            raise InvalidArgument(f"apply layer: tar header of {self.size} bytes is too large")
        member: tarfile.TarInfo = super()._proc_member(tf)  # type: ignore[misc]
        return member


_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s")


def _nts(field: bytes, encoding: str, errors: str) -> str:
    end = field.find(b"\0")
    return (field if end < 0 else field[:end]).decode(encoding, errors)


def members(tf: tarfile.TarFile, reader: LayerReader) -> Iterator[tarfile.TarInfo]:
    """TarFile.next without its bookkeeping: plain headers are decoded here, PAX / GNU ones by tarfile.

    Ends at the end-of-archive block or at end of data; the caller then tells a clean end from a cut or a bad one.
    """
    first = tf.firstmember  # type: ignore[attr-defined]
    if first is None:
        return
    tf.firstmember = None  # type: ignore[attr-defined]
    yield first
    while True:
        offset = tf.offset
        if reader.seek(offset) != offset:
            raise InvalidArgument("apply layer: unexpected end of data")
        try:
            header = FastTarInfo.frombuf(reader.read(tarfile.BLOCKSIZE), "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            return
        header.offset = offset
        m: tarfile.TarInfo = header
        if m.type in _PLAIN_TYPES and not tf.pax_headers:
            m.offset_data = data = offset + tarfile.BLOCKSIZE
            size = m.size if m.type in tarfile.REGULAR_TYPES else 0
            tf.offset = data + ((size + _BLOCK_MASK) & ~_BLOCK_MASK)
        else:
            try:
                m = header._proc_member(tf)
            except tarfile.HeaderError as err:
                raise InvalidArgument(f"apply layer: invalid tar header: {err}") from err
        yield m


def _pax_ns(value: str) -> int:
    """A PAX time ("1700000000.123456789", maybe negative) in nanoseconds, without float rounding."""
    sign = -1 if value.startswith("-") else 1
    whole, _, frac = value.lstrip("-").partition(".")
    return sign * (int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9]))


def entry_times(m: tarfile.TarInfo) -> tuple[int, int]:
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
