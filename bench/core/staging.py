"""Cache folders that many writers may build at once (processes, Ray workers, nodes sharing a file system).

Each writer builds in a folder of its own beside the target and renames it into place in one step,
so a reader sees the whole folder or none of it, and two writers never write into the same files.
When two race, the first rename wins and the loser deletes its copy and uses the winner's: cache
folders are named by a hash of everything that decides their content, so both copies are the same.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def staged_folder(target: Path, complete: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield a fresh scratch folder to build into; on a clean exit it becomes `target`.

    `complete(folder)` says whether a folder already at `target` is finished (its marker file is
    there). On an error, or when another writer published first, the scratch copy is deleted.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(target)
    owner = f"{socket.gethostname()}-{os.getpid()}"
    scratch = target.with_name(f".{target.name}.{owner}-{uuid.uuid4().hex[:12]}.tmp")
    scratch.mkdir()  # mkdir, not mkdtemp: keep the umask
    try:
        yield scratch
        publish(scratch, target, complete)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def remove_orphans(target: Path) -> list[Path]:
    """Delete the scratch folders of `target` that writers on this host left when they were killed
    (their process is gone); a live writer's, and other hosts' on a shared file system, stay."""
    host = socket.gethostname()
    removed = []
    for scratch in target.parent.glob(f".{target.name}.{host}-*.tmp"):
        pid = scratch.name.removeprefix(f".{target.name}.{host}-").split("-")[0]
        if pid.isdigit() and pid_gone(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
    return removed


def pid_gone(pid: int) -> bool:
    """Whether no process has this id (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def publish(scratch: Path, target: Path, complete: Callable[[Path], bool]) -> bool:
    """Rename `scratch` to `target`: True when ours is now the target, False when a complete one was there.

    A target that exists but is not complete can only be left by an older KMBench that wrote in
    place and was interrupted: it is moved aside (one rename, so only one writer does it) and ours
    takes its place.
    """
    for _ in range(3):
        try:
            os.rename(scratch, target)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        if complete(target):
            return False
        stale = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.stale")
        with contextlib.suppress(FileNotFoundError):
            os.rename(target, stale)
        shutil.rmtree(stale, ignore_errors=True)
    raise OSError(errno.EEXIST, f"cannot publish {scratch} as {target}: it keeps reappearing incomplete")
