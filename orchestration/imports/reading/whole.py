"""A file small enough to hold (Spotify's files: about 12 MB) is parsed at once.

Reading it whole skips what the streaming path spends on every byte — the input guard's scan and the
cutting into slices — and msgspec parses it in two C passes: once into the records' raw text (their
sizes), once into typed records (typed.py). Both passes are taken only when the result is certain to be
what the streaming path would give:

* every record is within the parsing caps: no record larger than IMPORT_MAX_RECORD_BYTES, and none
  larger than IMPORT_MAX_STRING_BYTES, so no string or number in it is longer either;
* every record is flat: known keys with scalar values, personal keys holding strings (so no nesting);
* the typed checks of a slice hold for the whole file (timestamps' shape, time window).

Anything else answers None and the caller streams the file as before, from the bytes already read, so
errors are found and worded by the same code as always.
"""

from __future__ import annotations

import msgspec

from orchestration.imports.reading.formats import ExportFormat
from orchestration.imports.reading.sources import Limits
from orchestration.imports.reading.typed import Row, TypedRows

WHOLE_FILE_BYTES = 16 * 1024 * 1024
"""Files up to this size are read whole. Memory grows with the file: its bytes, then its records' Python
objects (about 3.5 × the file in all: a 65 MB file took an import to 283 MB), so only files of Spotify's own
size (about 12 MB) are read whole and memory stays flat for larger ones."""
_BOM = b"\xef\xbb\xbf"
_RECORD_TEXTS = msgspec.json.Decoder(list[msgspec.Raw])


def whole_rows(fmt: ExportFormat, data: bytes, limits: Limits) -> list[Row] | None:
    """All rows of a file in `fmt`, parsed at once; None when the streaming path must decide."""
    text = data.removeprefix(_BOM)
    try:
        records = _RECORD_TEXTS.decode(text)
        largest = max(map(len, records), default=0)
        del records
        if largest > min(limits.max_record_bytes, limits.max_string_bytes):
            return None
        return TypedRows(fmt, scalar_personal=True).rows(text, 1)
    except (msgspec.DecodeError, RecursionError):  # msgspec stops deep nesting with a RecursionError
        return None
