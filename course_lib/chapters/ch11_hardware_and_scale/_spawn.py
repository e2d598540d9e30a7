"""Start worker processes that cannot outlive the run that started them.

``run_ranks`` starts ``world_size`` fresh interpreters (multiprocessing's
``spawn``, so it works from a notebook) and waits for them. It guarantees:

* **Ctrl-C stops everything.** The ranks ignore SIGINT (a terminal sends it
  to the whole process group, a notebook's interrupt to the kernel alone);
  the parent gets ``KeyboardInterrupt`` and stops every rank (SIGTERM, then
  SIGKILL) before re-raising it.
* **A dead parent means dead ranks.** Each rank watches the pipe that ties it
  to its parent; when the parent dies (``kill -9``, a kernel restart) the
  pipe closes and the rank exits at once.
* **One failure stops the run.** When a rank fails, the parent stops the
  others at once (they would otherwise wait for it in a collective until
  the timeout) and raises ``RankFailed`` with the rank's one-line message.
* **Nothing on disk.** A rank's result travels back as bytes through a pipe
  (``Connection.send_bytes``; the caller chooses the format, e.g.
  ``torch.save``), so there is no temporary file to leave behind.

Plumbing for ``course_lib.chapters.ch11_hardware_and_scale.distributed``; not a teaching module.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from multiprocessing.connection import wait

STOP_GRACE_S = 3.0  # how long a rank gets to leave after SIGTERM before SIGKILL
PARENT_GONE_EXIT = 3  # a rank's exit code when it leaves because its parent died
_RESULT, _ERROR = b"R", b"E"


class RankFailed(RuntimeError):
    """A rank raised an exception or died; ``rank`` and ``detail`` say which and why."""

    def __init__(self, message: str, rank: int, detail: str):
        super().__init__(message)
        self.rank = rank
        self.detail = detail


def run_ranks(target, world_size: int, args: tuple, *, func: str) -> list:
    """Run ``target(rank, world_size, *args)`` in ``world_size`` processes; return their results.

    ``target`` must be a module-level function (spawn imports it by name) and
    return ``bytes`` or ``None``. The result list holds, per rank, the bytes
    it returned (or None). ``func`` names the user-facing caller in errors.
    """
    context = multiprocessing.get_context("spawn")
    procs, readers = [], []
    try:
        with _sigint_ignored_by_children():
            for rank in range(world_size):
                reader, writer = context.Pipe(duplex=False)
                proc = context.Process(
                    target=_rank_main,
                    args=(target, rank, world_size, args, writer),
                    name=f"course-rank-{rank}",
                    daemon=True,  # also stopped by multiprocessing when the parent exits normally
                )
                proc.start()
                writer.close()  # the rank holds the only writing end: EOF means it has left
                procs.append(proc)
                readers.append(reader)
        return _collect(procs, readers, func)
    finally:
        stop(procs)
        for reader in readers:
            reader.close()


def stop(procs) -> None:
    """Stop every process still running: SIGTERM, then SIGKILL after a grace period."""
    alive = [p for p in procs if p.is_alive()]
    for proc in alive:
        proc.terminate()
    for proc in alive:
        proc.join(STOP_GRACE_S)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _collect(procs, readers, func) -> list:
    results = [None] * len(procs)
    open_readers = dict(zip(readers, range(len(procs))))
    while open_readers or any(p.exitcode is None for p in procs):
        waiting = list(open_readers) + [p.sentinel for p in procs if p.exitcode is None]
        for ready in wait(waiting, timeout=1.0):
            rank = open_readers.get(ready)
            if rank is None:
                continue  # a process ended; its exit code is checked below
            try:
                message = ready.recv_bytes()
            except EOFError:
                del open_readers[ready]
                continue
            if message.startswith(_ERROR):
                detail = message[1:].decode("utf-8", "replace")
                raise RankFailed(f"{func}: rank {rank} failed: {detail}", rank, detail)
            results[rank] = message[1:]
        for rank, proc in enumerate(procs):
            # A rank that died may still have its error message in the pipe: read that first.
            if proc.exitcode not in (None, 0) and readers[rank] not in open_readers:
                detail = f"exit code {proc.exitcode}"
                raise RankFailed(f"{func}: rank {rank} died ({detail})", rank, detail)
    return results


def _rank_main(target, rank, world_size, args, writer) -> None:
    """The first function a rank runs: guard it, run ``target``, send the outcome, leave."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _exit_when_parent_dies()
    code = 0
    try:
        result = target(rank, world_size, *args)
        if result is not None:
            writer.send_bytes(_RESULT + bytes(result))
    except BaseException as exc:  # noqa: BLE001 (reported to the parent, which raises)
        code = 1
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if not getattr(exc, "course_brief", False):
            traceback.print_exc()
        try:
            writer.send_bytes(_ERROR + detail.encode("utf-8"))
        except OSError:
            pass  # the parent has gone
    finally:
        writer.close()
    leave_now(code)


def leave_now(code: int) -> None:
    """End a finished rank at once, skipping the interpreter's teardown.

    All work is done and the process group destroyed when this runs. With
    torch 2.13 and gloo, a C++ thread now and then aborts the process during
    teardown ("terminate called without an active exception"; seen in about
    4 of 150 two-process runs on a busy 2-core machine, always after
    ``destroy_process_group()`` had returned on both ranks), which would
    report a finished run as failed. ``os._exit`` skips that teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_when_parent_dies() -> None:
    """A daemon thread that ends this process when the parent's end of the spawn pipe closes."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch():
        wait([parent.sentinel])
        os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


@contextmanager
def _sigint_ignored_by_children():
    """Ignore SIGINT while the ranks start, so they inherit SIG_IGN (Python keeps it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
