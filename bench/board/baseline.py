"""What a pull request changes on the board, read against the commit it merges into (`--base`).

Reproductions are ours: CI trusts the `reproduced/` entries committed at the base (written by
an earlier CI run or a maintainer's `make reproduce`) and nothing a pull request brings. An
entry that differs from the base's is a *claim*: CI reruns its row and refuses the pull request
unless the rerun gives it. CI's reproduction budget goes to the submission folders that differ
from the base, so nothing already reproduced is redone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.board.reproduce import Reproduction, load_reproductions, parse_reproductions
from bench.core.errors import UserError
from bench.core.git import git
from bench.core.paths import PROJECT_ROOT


@dataclass(frozen=True)
class Baseline:
    """The base commit and the paths changed since it; without a base, every file is trusted as committed."""

    rev: str | None = None
    changed: frozenset[str] = frozenset()

    def folder_changed(self, folder: Path) -> bool:
        """Whether a pull request adds or edits anything in this submission folder."""
        if self.rev is None:
            return True
        prefix = relative(folder).rstrip("/") + "/"
        return any(path.startswith(prefix) for path in self.changed)

    def split(self, kept: Path) -> tuple[dict[str, Reproduction], dict[str, Reproduction]]:
        """(trusted, claimed) entries of one reproductions file: the base's, and those the change adds or edits."""
        current = load_reproductions(kept)
        if self.rev is None:
            return current, {}
        trusted = base_reproductions(self.rev, kept)
        claims = {rid: r for rid, r in current.items() if trusted.get(rid) != r}
        return trusted, claims


def baseline(rev: str | None) -> Baseline:
    """The paths changed between `rev` and the working tree (committed or not); `None`: no base."""
    if not rev:
        return Baseline()
    try:
        sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
        if sha.returncode != 0:
            raise UserError(f"--base {rev}: no such commit here")
        diff = git("diff", "--name-only", sha.stdout.strip())
        untracked = git("ls-files", "--others", "--exclude-standard")
    except OSError as exc:
        raise UserError(f"--base needs git: {exc}") from exc
    changed = {*diff.stdout.splitlines(), *untracked.stdout.splitlines()}
    return Baseline(sha.stdout.strip(), frozenset(changed))


def base_reproductions(rev: str, kept: Path) -> dict[str, Reproduction]:
    """The reproductions file as committed at `rev` (none when it did not exist there)."""
    shown = git("show", f"{rev}:{relative(kept)}")
    if shown.returncode != 0:
        return {}
    return parse_reproductions(json.loads(shown.stdout))


def relative(path: Path) -> str:
    """A path as git names it, relative to the project root."""
    try:
        return path.resolve().relative_to(PROJECT_ROOT.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
