"""Torch's threads follow the CPUs a process may use, and a shared machine is named."""

from __future__ import annotations

import logging
import os

import torch

from bench.model import threads


def test_a_cgroup_quota_caps_the_usable_cpus(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("50000 100000\n")  # half a CPU: still one thread
    assert threads.usable_cpus(quota) == 1
    quota.write_text("max 100000\n")
    assert threads.usable_cpus(quota) == affinity
    assert threads.usable_cpus(tmp_path / "absent") == affinity


def test_threads_fit_the_cpus_and_a_busy_machine_is_named(monkeypatch, caplog):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(64)
        monkeypatch.setattr(threads, "load_average", lambda: 99.0)
        with caplog.at_level(logging.WARNING):
            assert threads.fit_threads() == threads.usable_cpus() <= 64
        assert any("load average (99.0) exceeds" in m for m in caplog.messages)
    finally:
        torch.set_num_threads(before)
