"""What an import reads: the JSON entries of a ZIP, a folder, or a single JSON file.

Everything that could hurt is decided here, before a byte of content is parsed: archive size,
entry count, declared and actual uncompressed sizes, compression ratio, path traversal,
absolute paths, symlinks and nested archives.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from orchestration.imports.reading.errors import ExportError, LimitExceededError, UnsafeArchiveError

ARCHIVE_SUFFIXES = (".zip", ".jar", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_archive_bytes: int
    max_uncompressed_bytes: int
    max_compression_ratio: float
    max_entries: int
    max_records: int
    max_depth: int
    max_string_bytes: int
    max_record_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        from orchestration.config import get_settings

        s = get_settings()
        return cls(
            max_archive_bytes=s.import_max_archive_bytes,
            max_uncompressed_bytes=s.import_max_uncompressed_bytes,
            max_compression_ratio=s.import_max_compression_ratio,
            max_entries=s.import_max_entries,
            max_records=s.import_max_records,
            max_depth=s.import_max_depth,
            max_string_bytes=s.import_max_string_bytes,
            max_record_bytes=s.import_max_record_bytes,
        )


class Stream(Protocol):
    """What an Entry opens: a binary reader (a file, a ZIP member)."""

    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One JSON file to read. `name` is what raw rows record as their source_file."""

    name: str
    size: int
    opener: Callable[[], Stream]


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass
class Source:
    path: Path
    kind: str  # zip | json | folder
    sha256: str
    size_bytes: int
    entries: list[Entry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)


def open_source(path: Path, limits: Limits) -> Source:
    """describe() and scan() in one call."""
    source = describe(path)
    scan(source, limits)
    return source


def describe(path: Path) -> Source:
    """Kind, size and sha256 of what is to be imported. Raises ExportError for unusable paths."""
    path = path.expanduser().absolute()
    if path.is_symlink() and path.is_dir():
        raise ExportError(f"{path}: refusing to follow a symbolic link to a folder")
    if not path.exists():
        raise ExportError(f"{path}: no such file or folder")
    if path.is_dir():
        digest = hashlib.sha256()
        size = 0
        for file in sorted(_walk(path, [])):
            digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\0".encode())
            size += file.stat().st_size
        return Source(path, "folder", digest.hexdigest(), size)
    return Source(path, kind_of(path), file_sha256(path), path.stat().st_size)


def kind_of(path: Path) -> str:
    """What `path` is to import: a folder, or a zip or json file (by content, then by name); raises ExportError
    for anything else. A damaged ".zip" is still a zip here (and registered); scan() then says what is wrong."""
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise ExportError(f"{path}: not a regular file")
    if zipfile.is_zipfile(path) or path.suffix.lower() in ARCHIVE_SUFFIXES:
        return "zip"
    if path.suffix.lower() == ".json":
        return "json"
    raise ExportError(f"{path}: not a ZIP archive, a JSON file or a folder")


def scan(source: Source, limits: Limits) -> None:
    """List the JSON entries to read and the files skipped. Raises for refused input."""
    path = source.path
    if source.kind == "zip":
        if not zipfile.is_zipfile(path):
            raise ExportError(f"{path.name}: not a valid ZIP archive")
        _add_zip(source, path, prefix="", limits=limits)
    elif source.kind == "json":
        source.entries.append(Entry(path.name, path.stat().st_size, _file_opener(path)))
    else:
        _scan_folder(source, limits)


def file_sha256(path: Path) -> str:
    """The file's sha256, remembered in this process for as long as the file stays unchanged (same inode, size
    and modification time): a CLI import describes its file to name the run's partition, and the run's import
    describes it again (a 781 MB file took 1 s to hash)."""
    st = path.stat()
    return _sha256(path.resolve(), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: Path, device: int, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _scan_folder(source: Source, limits: Limits) -> None:
    root = source.path
    for path in sorted(_walk(root, source.skipped)):
        rel = path.relative_to(root).as_posix()
        if zipfile.is_zipfile(path):
            _add_zip(source, path, prefix=f"{rel}/", limits=limits)
        elif path.suffix.lower() == ".json":
            source.entries.append(Entry(rel, path.stat().st_size, _file_opener(path)))
        else:
            source.skipped.append(Skipped(rel, "not a JSON file or ZIP archive"))
    if len(source.entries) > limits.max_entries:
        raise LimitExceededError(
            f"{root}: {len(source.entries):,} JSON files exceed the limit of {limits.max_entries:,} "
            "(IMPORT_MAX_ENTRIES)"
        )


def _walk(root: Path, skipped: list[Skipped]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in list(dirnames):
            if (here / name).is_symlink():
                skipped.append(Skipped((here / name).relative_to(root).as_posix(), "symbolic link"))
                dirnames.remove(name)
            elif name.startswith("."):
                dirnames.remove(name)
        for name in filenames:
            path = here / name
            rel = path.relative_to(root).as_posix()
            if name.startswith("."):
                continue
            if path.is_symlink():
                skipped.append(Skipped(rel, "symbolic link"))
            elif path.is_file():
                yield path


def _file_opener(path: Path) -> Callable[[], Stream]:
    return lambda: path.open("rb")


def _add_zip(source: Source, path: Path, prefix: str, limits: Limits) -> None:
    label = f"{prefix.rstrip('/')}" or path.name
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise LimitExceededError(
            f"{label}: archive of {size:,} bytes exceeds the limit of {limits.max_archive_bytes:,} "
            "(IMPORT_MAX_ARCHIVE_BYTES)"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExportError(f"{label}: not a valid ZIP archive ({exc})") from exc
    if len(infos) > limits.max_entries:
        raise LimitExceededError(
            f"{label}: {len(infos):,} entries exceed the limit of {limits.max_entries:,} (IMPORT_MAX_ENTRIES)"
        )
    total = 0
    for info in infos:
        name = info.filename
        _refuse_unsafe_name(label, name)
        if info.is_dir():
            continue
        shown = f"{prefix}{name}"
        if _is_hidden(name):
            source.skipped.append(Skipped(shown, "hidden or macOS metadata file"))
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            source.skipped.append(Skipped(shown, "symbolic link inside the archive"))
            continue
        if name.lower().endswith(ARCHIVE_SUFFIXES):
            source.skipped.append(Skipped(shown, "nested archive: extract it and import the inner archive on its own"))
            continue
        if not name.lower().endswith(".json"):
            source.skipped.append(Skipped(shown, "not a JSON file"))
            continue
        if info.flag_bits & 0x1:
            source.skipped.append(Skipped(shown, "encrypted entry"))
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _CHUNK and ratio > limits.max_compression_ratio:
            raise UnsafeArchiveError(
                f"{label}: entry {name!r} expands {ratio:,.0f}x ({info.compress_size:,} → {info.file_size:,} "
                f"bytes), above the limit of {limits.max_compression_ratio:g}x "
                "(IMPORT_MAX_COMPRESSION_RATIO); refusing a possible zip bomb"
            )
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise LimitExceededError(
                f"{label}: uncompressed size above {limits.max_uncompressed_bytes:,} bytes "
                "(IMPORT_MAX_UNCOMPRESSED_BYTES)"
            )
        source.entries.append(Entry(shown, info.file_size, _zip_opener(path, info)))


def _is_hidden(name: str) -> bool:
    """Dotfiles and the __MACOSX/ folder (with its ._ AppleDouble files) that Finder adds to ZIPs."""
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or any(part.startswith(".") and part != "." for part in parts)


def _refuse_unsafe_name(label: str, name: str) -> None:
    normalized = name.replace("\\", "/")
    parts = PurePosixPath(normalized).parts
    is_absolute = normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":")
    if is_absolute:
        raise UnsafeArchiveError(f"{label}: entry {name!r} has an absolute path; refusing the archive")
    if ".." in parts:
        raise UnsafeArchiveError(f"{label}: entry {name!r} points outside the archive ('..'); refusing it")
    if "\0" in name:
        raise UnsafeArchiveError(f"{label}: entry name contains a NUL byte; refusing the archive")


def _zip_opener(path: Path, info: zipfile.ZipInfo) -> Callable[[], Stream]:
    def opener() -> Stream:
        zf = zipfile.ZipFile(path)
        stream = zf.open(info)
        return _BoundedReader(stream, info.file_size, info.filename, on_close=zf.close)

    return opener


class _BoundedReader:
    """Reads a ZIP member and fails if it yields more bytes than its header declared."""

    def __init__(self, stream: IO[bytes], limit: int, name: str, on_close: Callable[[], None]) -> None:
        self._stream = stream
        self._left = limit
        self._name = name
        self._on_close = on_close

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise ExportError(f"{self._name}: damaged archive entry ({exc})") from exc
        self._left -= len(data)
        if self._left < 0:
            raise UnsafeArchiveError(f"{self._name}: entry is larger than its header declares; refusing it")
        return data

    def close(self) -> None:
        self._stream.close()
        self._on_close()

    def __enter__(self) -> _BoundedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
