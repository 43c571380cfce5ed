"""A minimal FlatBuffers builder that emits the same bytes as the Go/Python builders.

It follows google/flatbuffers' `Builder` algorithm exactly (back-to-front writing, `Prep`
alignment against the bytes written so far, scalars equal to their default omitted, vtables
trimmed of trailing zeros and de-duplicated against every earlier vtable by their field
entries, `Finish` aligned to the largest alignment seen). Instead of one buffer written
backwards it collects byte pieces in write order and joins them reversed at the end, and
it keeps a dict of vtables, which gives the same result as Go's backwards search because a
vtable is only written when no equal one exists. The tests compare it with PyPI
`flatbuffers` byte for byte.
"""

from __future__ import annotations

import struct

_ZEROS = bytes(16)
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_U16 = struct.Struct("<H")


class Builder:
    __slots__ = (
        "_object_end",
        "_parts",
        "_vtable",
        "_vtables",
        "last_vtable",
        "minalign",
        "offset",
    )

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.offset = 0  # bytes written so far (Go's Builder.Offset())
        self.minalign = 1
        self._vtable: list[int] = []
        self._vtables: dict[tuple[int, ...], int] = {}
        self._object_end = 0
        self.last_vtable = 0  # where the last table's vtable is (Offset() coordinates)

    def prep(self, size: int, additional: int) -> None:
        self.minalign = max(self.minalign, size)
        pad = (-(self.offset + additional)) & (size - 1)
        if pad:
            self._parts.append(_ZEROS[:pad] if pad <= 16 else bytes(pad))
            self.offset += pad

    def create_string(self, data: bytes) -> int:
        n = len(data)
        self.prep(4, n + 1)
        self._parts.append(_U32.pack(n) + data + b"\x00")
        self.offset += n + 5
        return self.offset

    def create_byte_vector(self, data: bytes | list[bytes]) -> int:
        """A [ubyte] vector; `data` may be given as pieces (not joined: saves a copy)."""
        pieces = data if isinstance(data, list) else [data]
        n = sum(len(p) for p in pieces)
        self.prep(4, n)
        self._parts.extend(reversed(pieces))
        self._parts.append(_U32.pack(n))
        self.offset += n + 4
        return self.offset

    def create_offset_vector(self, offsets: list[int]) -> int:
        """StartVector(4, n, 4), prepend offsets last to first, EndVector(n)."""
        n = len(offsets)
        self.prep(4, 4 * n)
        self.prep(4, 4 * n)
        base = self.offset
        # Element k (from the end) sits at base + 4*(k+1) from the end of the buffer.
        values = [base + 4 * (k + 1) - off for k, off in enumerate(reversed(offsets))]
        self._parts.append(struct.pack(f"<{n}I", *reversed(values)))
        self._parts.append(_U32.pack(n))
        self.offset = base + 4 * n + 4
        return self.offset

    # -- tables ---------------------------------------------------------------------------
    def start_object(self, num_fields: int) -> None:
        self._vtable = [0] * num_fields
        self._object_end = self.offset

    def add_offset(self, slot: int, target: int) -> None:
        self.prep(4, 0)
        self._parts.append(_U32.pack(self.offset + 4 - target))
        self.offset += 4
        self._vtable[slot] = self.offset

    def add_int64(self, slot: int, value: int, default: int = 0) -> None:
        if value != default:
            self.prep(8, 0)
            self._parts.append(_I64.pack(value))
            self.offset += 8
            self._vtable[slot] = self.offset

    def add_int32(self, slot: int, value: int, default: int = 0) -> None:
        if value != default:
            self.prep(4, 0)
            self._parts.append(_I32.pack(value))
            self.offset += 4
            self._vtable[slot] = self.offset

    def add_uint32(self, slot: int, value: int, default: int = 0) -> None:
        if value != default:
            self.prep(4, 0)
            self._parts.append(_U32.pack(value))
            self.offset += 4
            self._vtable[slot] = self.offset

    def add_int8(self, slot: int, value: int, default: int = 0) -> None:
        if value != default:
            self.prep(1, 0)
            self._parts.append(struct.pack("<b", value))
            self.offset += 1
            self._vtable[slot] = self.offset

    def end_object(self) -> int:
        self.prep(4, 0)
        object_offset = self.offset + 4
        vtable = self._vtable
        n = len(vtable)
        while n and vtable[n - 1] == 0:
            n -= 1
        key = tuple([object_offset - v if v else 0 for v in vtable[:n]])
        existing = self._vtables.get(key)
        if existing is not None:
            self._parts.append(_I32.pack(existing - object_offset))
            self.offset = object_offset
            self.last_vtable = existing
            return object_offset
        vbytes = (n + 2) * 2
        self._parts.append(_I32.pack(vbytes))
        self._parts.append(
            struct.pack(f"<{n + 2}H", vbytes, object_offset - self._object_end, *key)
        )
        self.offset = object_offset + vbytes
        self._vtables[key] = self.last_vtable = self.offset
        return object_offset

    def finish(self, root: int) -> bytes:
        self.prep(self.minalign, 4)
        self.prep(4, 0)
        self._parts.append(_U32.pack(self.offset + 4 - root))
        self.offset += 4
        return b"".join(reversed(self._parts))
