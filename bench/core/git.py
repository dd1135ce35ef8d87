"""The one way KMBench asks git about its own checkout: records name their commit, and the
validator checks commits and changed paths against this project's history."""

from __future__ import annotations

import subprocess

from bench.core.paths import PROJECT_ROOT


def git(*args: str) -> subprocess.CompletedProcess[str]:
    """`git <args>` in the project's checkout, output captured as text; an `OSError` where git
    itself is missing (callers decide whether that is a user's mistake)."""
    return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True)


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the kmbench checkout, or (None, None) outside git."""
    try:
        sha, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    except OSError:
        return None, None
    if sha.returncode or status.returncode:
        return None, None
    return sha.stdout.strip(), bool(status.stdout.strip())
