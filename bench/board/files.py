"""A submission is untrusted data: its files are checked for size, count and links before any is read.

A pull request could hold a symlink to a file outside the submission, a gzip that expands to
gigabytes, or thousands of files; each is refused with one line before the validator parses
anything, and per-sample logs are read with a cap on what they decompress to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Caps:
    """What one submission may hold. Generous for honest runs: the two committed submissions
    hold 89 files and 3.3 MB; a 20K-question task's gzipped samples are a few MB."""

    max_files: int = 2_000
    max_file_bytes: int = 64 * 1024**2
    max_total_bytes: int = 256 * 1024**2
    max_decompressed_bytes: int = 256 * 1024**2


CAPS = Caps()


def folder_problems(folder: Path, caps: Caps = CAPS) -> list[str]:
    """Links, too many files or too many bytes under `folder` (and the folder itself a link)."""
    if folder.is_symlink():
        return [f"{folder}: is a symbolic link; a submission must hold plain files"]
    problems, count, total = [], 0, 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink():
                problems.append(f"{path}: is a symbolic link; a submission must hold plain files")
            elif path.is_file():
                count += 1
                size = path.stat().st_size
                total += size
                if size > caps.max_file_bytes:
                    problems.append(f"{path}: {size:,} bytes, over the {caps.max_file_bytes:,}-byte cap per file")
    if count > caps.max_files:
        problems.append(f"{folder}: {count:,} files, over the cap of {caps.max_files:,}")
    if total > caps.max_total_bytes:
        problems.append(f"{folder}: {total:,} bytes in all, over the cap of {caps.max_total_bytes:,}")
    return problems
