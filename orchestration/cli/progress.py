"""Small terminal progress bars for imports and exports (stderr, so stdout stays clean for --json)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class TerminalProgress:
    """Byte-based progress over all files of an import; one line per file when not a TTY."""

    def __init__(self, stream: TextIO | None = None, label: str = "") -> None:
        self._out = stream or sys.stderr
        self._tty = self._out.isatty()
        self._label = label
        self._total = 1
        self._done = 0
        self._files = 0
        self._files_done = 0
        self._records = 0
        self._last = 0.0
        self._start = time.monotonic()

    def started(self, total_bytes: int, files: int) -> None:
        self._total, self._files = max(total_bytes, 1), files
        self._start = time.monotonic()
        self._draw(force=True)

    def advanced(self, nbytes: int) -> None:
        self._done += nbytes
        self._draw()

    def file_done(self, name: str, format_name: str | None, records: int) -> None:
        self._files_done += 1
        self._records += records
        if not self._tty:
            what = f"{records:,} records ({format_name})" if format_name else "skipped"
            print(f"{self._label}[{self._files_done}/{self._files}] {name}: {what}", file=self._out, flush=True)
        self._draw(force=True)
        if self._files_done == self._files and self._tty:
            print(file=self._out, flush=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._tty or (not force and now - self._last < 0.1):
            return
        self._last = now
        share = min(self._done / self._total, 1.0)
        bar = "#" * int(share * 30)
        rate = self._records / max(now - self._start, 1e-6)
        self._out.write(
            f"\r{self._label}[{bar:<30}] {share:6.1%}  {self._done / 1e6:,.0f}/{self._total / 1e6:,.0f} MB  "
            f"files {self._files_done}/{self._files}  {self._records:,} records ({rate:,.0f}/s)"
        )
        self._out.flush()


class CountProgress:
    """Progress over a known number of items (an export's streams): a bar on a TTY, else a line per tenth."""

    def __init__(self, noun: str, stream: TextIO | None = None) -> None:
        self._out = stream or sys.stderr
        self._tty = self._out.isatty()
        self._noun = noun
        self._start = time.monotonic()
        self._last = 0.0
        self._tenths = -1

    def __call__(self, done: int, total: int) -> None:
        share = done / max(total, 1)
        now = time.monotonic()
        if self._tty:
            if done < total and now - self._last < 0.1:
                return
            self._last = now
            rate = done / max(now - self._start, 1e-6)
            bar = "#" * int(share * 30)
            end = "\n" if done >= total else ""
            self._out.write(f"\r[{bar:<30}] {share:6.1%}  {done:,}/{total:,} {self._noun} ({rate:,.0f}/s){end}")
            self._out.flush()
        elif int(share * 10) > self._tenths:
            self._tenths = int(share * 10)
            print(f"{done:,}/{total:,} {self._noun} ({share:.0%})", file=self._out, flush=True)
