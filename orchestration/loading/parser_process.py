"""The importer's parsing side in a child process, for large sources.

Parsing a million records costs Python about as much CPU as Postgres spends storing them; in one
process the two share the interpreter lock, so the writer keeps waiting for the parser. In a child
process the parser has its own, and the writer (which keeps the connection, the lock and the one
transaction of the import) only passes bytes on.

The child is `python -P -m orchestration.loading.parser_process`: it reads the job from stdin and
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
from typing import IO, Any

from orchestration.exports.errors import ExportError
from orchestration.exports.sources import Limits, Source, scan
from orchestration.loading.parsing import Failed, Mailbox, Message, parse_source, received


@contextlib.contextmanager
def parse_in_process(source: Source, limits: Limits) -> Iterator[Iterator[Message]]:
    """The source's messages, parsed by a child process. Leaving the block stops the child."""
    child = subprocess.Popen(
        command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
        env=_environment(),
    )
    assert child.stdin is not None and child.stdout is not None
    messages = Mailbox()
    ended = threading.Event()
    pump = threading.Thread(
        target=_pump, args=(child, child.stdout, messages, ended), name="import-parser", daemon=True
    )
    try:
        # The child scans the source again (cheap: a ZIP's directory) rather than being sent the entries.
        pickle.dump((source.path, source.kind, source.sha256, source.size_bytes, limits), child.stdin)
        child.stdin.close()
        pump.start()
        yield received(messages.get)
    finally:
        # After the end of the stream the child is only exiting; otherwise the writer has stopped listening.
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10 if ended.is_set() else 0)
        if child.poll() is None:
            child.kill()
        messages.discard_until(lambda: not pump.is_alive())  # the pump then reaches the end of the pipe
        child.wait()
        child.stdout.close()


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
