"""ZIP archives written as a stream (the archive never sits whole in memory) with fixed metadata, so that the same
entries give the same bytes: every entry has the given timestamp, Unix permissions 0644 and DEFLATE."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# 1980-01-01 00:00:00, the earliest time a ZIP entry can carry; releases pass their own date.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ZipEntry:
    name: str
    chunks: Iterable[str | bytes]


class _Sink:
    """A write-only, unseekable file: zipfile then writes data descriptors and never seeks back."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_stream(entries: Iterable[ZipEntry], *, date_time: tuple[int, ...] = ZIP_EPOCH) -> Iterator[bytes]:
    """The ZIP archive of `entries`, in order, yielded piece by piece as it is written."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the platform that writes it
            info.external_attr = 0o100644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                for chunk in entry.chunks:
                    member.write(chunk.encode() if isinstance(chunk, str) else chunk)
                    if sink._chunks:
                        yield sink.take()
            yield sink.take()
    yield sink.take()
