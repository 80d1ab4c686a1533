"""Errors an import reports to people: each says which file (and record) and what is wrong."""

from __future__ import annotations


class ExportError(Exception):
    """Input that cannot be imported. The message is complete and safe to show."""


class UnsafeArchiveError(ExportError):
    """An archive we refuse to read at all (path traversal, absolute paths, zip bombs)."""


class LimitExceededError(ExportError):
    """Input larger than a configured safety cap."""


class InvalidFileError(ExportError):
    """A listening-history file that is malformed: bad JSON, wrong types, missing fields."""

    def __init__(self, file: str, message: str, record_no: int | None = None) -> None:
        where = f"{file}, record {record_no}" if record_no is not None else file
        super().__init__(f"{where}: {message}")
        self.file = file
        self.message = message
        self.record_no = record_no

    def __reduce__(self) -> tuple[type[InvalidFileError], tuple[str, str, int | None]]:
        # Pickled by the import's parsing process; the default would call __init__ with the full text only.
        return type(self), (self.file, self.message, self.record_no)


class NoHistoryError(ExportError):
    """Nothing in the input was listening history."""
