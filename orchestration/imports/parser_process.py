"""The importer's parsing side in a child process, for large sources.

Parsing a million records costs Python about as much CPU as Postgres spends storing them; in one
process the two share the interpreter lock, so the writer keeps waiting for the parser. In a child
process the parser has its own, and the writer (which keeps the connection, the lock and the one
transaction of the import) only passes bytes on.

The child is `python -P -m orchestration.imports.parser_process`: it reads the job from stdin and
writes the messages of parsing.py to stdout, pickled, until the end of the stream (None) or a Failed.
Only this package is imported there, not Dagster or the API: it starts in about 0.2 s.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from orchestration.imports.parsing import Failed, Mailbox, Message, parse_source, received
from orchestration.imports.reading.errors import ExportError
from orchestration.imports.reading.sources import Limits, Source, kind_of, scan


class ParsingProcess:
    """The source's messages, parsed by a child process: `with ParsingProcess(source, limits) as messages`.

    The child starts at once; its messages are queued (up to QUEUE_BATCHES batches) until read. Leaving the
    block stops it.
    """

    def __init__(self, source: Source, limits: Limits) -> None:
        self.source, self.limits = source, limits
        self._child = child = subprocess.Popen(
            command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            env=_environment(),
        )
        assert child.stdin is not None and child.stdout is not None
        self._messages = Mailbox()
        self._ended = threading.Event()
        self._pump = threading.Thread(
            target=_pump, args=(child, child.stdout, self._messages, self._ended), name="import-parser", daemon=True
        )
        try:
            # The child scans the source again (cheap: a ZIP's directory) rather than being sent the entries.
            pickle.dump((source.path, source.kind, source.sha256, source.size_bytes, limits), child.stdin)
            child.stdin.close()
            self._pump.start()
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Iterator[Message]:
        return received(self._messages.get)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Wait for a child that has sent everything; kill one the writer stopped listening to. Idempotent."""
        child = self._child
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10 if self._ended.is_set() else 0)
        if child.poll() is None:
            child.kill()
        if self._pump.is_alive():
            self._messages.discard_until(lambda: not self._pump.is_alive())  # it then reaches the end of the pipe
        child.wait()
        assert child.stdout is not None
        child.stdout.close()


class ParsingAhead:
    """A parsing process started before the import that reads it, for a file about to be imported.

    The CLI starts one before it loads Dagster (≈ 1.4 s), so that the file is being parsed meanwhile; the
    run's import takes it if it is for the same file, unchanged, with the same limits (`take`). Only files
    at least IMPORT_PARSER_PROCESS_BYTES large get one: their import would start a process anyway.
    `ParsingAhead()` holds none (what runs started elsewhere get).
    """

    def __init__(self, process: ParsingProcess | None = None, identity: tuple[int, ...] | None = None) -> None:
        self._process, self._identity = process, identity

    @classmethod
    def start(cls, path: Path, limits: Limits, min_bytes: int) -> ParsingAhead:
        """A process parsing the file at `path`, if it is a ZIP or JSON file of at least `min_bytes`."""
        path = path.expanduser().absolute()
        try:
            kind, identity = kind_of(path), _identity(path)
        except ExportError:
            return cls()  # the import says what is wrong with the path
        if kind == "folder" or identity is None or identity[2] < min_bytes:
            return cls()
        # The file's hash is not needed to parse it: the import checks that the file is still the same.
        return cls(ParsingProcess(Source(path, kind, "", identity[2]), limits), identity)

    def take(self, source: Source, limits: Limits) -> ParsingProcess | None:
        """The process, if it parses `source` as the import would: then the import owns it."""
        process, self._process = self._process, None
        if process is None:
            return None
        ours = process.source
        same_file = (ours.path, ours.kind, ours.size_bytes) == (source.path, source.kind, source.size_bytes)
        if same_file and self._identity == _identity(source.path) and process.limits == limits:
            return process
        process.stop()
        return None

    def stop(self) -> None:
        """Stop the process unless an import took it."""
        if self._process is not None:
            self._process.stop()
            self._process = None


def _identity(path: Path) -> tuple[int, ...] | None:
    """The file's device, inode, size and modification time: equal while it is unchanged."""
    with contextlib.suppress(OSError):
        st = path.stat()
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
    return None


def command() -> list[str]:
    """How the parsing process is started (-P: this package from where the importer has it, never the
    working directory)."""
    return [sys.executable, "-P", "-m", __name__]


def _environment() -> dict[str, str]:
    """This process's environment without its secrets: the parser reads files and needs none of them."""
    from orchestration.config import secret_variables  # here: the child itself never imports the settings

    hidden = secret_variables() | {"PGPASSWORD"}
    return {name: value for name, value in os.environ.items() if name.upper() not in hidden}


def _pump(child: subprocess.Popen[bytes], stdout: IO[bytes], messages: Mailbox, ended: threading.Event) -> None:
    """Move the child's messages into the queue (so the child parses on while the writer waits on Postgres)."""
    while True:
        try:
            message = pickle.load(stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            code = child.wait()
            messages.put(Failed(RuntimeError(f"the import's parsing process ended unexpectedly (exit code {code})")))
            return
        if message is None:
            ended.set()
        messages.put(message)
        if message is None or isinstance(message, Failed):
            return


def _portable(exc: BaseException) -> BaseException:
    """The error as the parent can unpickle it; the wording of an ExportError is kept either way."""
    with contextlib.suppress(Exception):
        copy = pickle.loads(pickle.dumps(exc))
        if isinstance(copy, BaseException) and str(copy) == str(exc):
            return copy
    if isinstance(exc, ExportError):
        return ExportError(str(exc))
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def _main() -> None:
    # stdout is the message channel: anything printed by accident goes to stderr instead.
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    path, kind, sha256, size, limits = pickle.load(sys.stdin.buffer)
    source = Source(path, kind, sha256, size)

    def send(message: Any) -> None:
        pickle.dump(message, channel, protocol=pickle.HIGHEST_PROTOCOL)
        channel.flush()

    try:
        scan(source, limits)
        parse_source(source, limits, send)
        send(None)
    except BaseException as exc:
        if not isinstance(exc, ExportError | KeyboardInterrupt):
            traceback.print_exc()
        with contextlib.suppress(BrokenPipeError):
            send(Failed(_portable(exc)))
    finally:
        with contextlib.suppress(BrokenPipeError):
            channel.close()


if __name__ == "__main__":
    _main()
