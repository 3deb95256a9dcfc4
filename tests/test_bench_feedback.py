"""bench/bench_feedback.py's CPU load (``--load N``): the busy processes it starts beside it, and their end."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT))
from bench import bench_feedback  # noqa: E402 - after the path is set


def _children() -> set[int]:
    """The ids of this process's running children (Linux: /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                found.add(int(entry))
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
def test_the_load_runs_beside_the_benchmark_and_ends_with_it_even_on_an_error() -> None:
    before = _children()
    with pytest.raises(KeyboardInterrupt):
        with bench_feedback.cpu_load(2):
            spinning = _children() - before
            assert len(spinning) == 2
            for pid in spinning:
                assert open(f"/proc/{pid}/cmdline").read().startswith(sys.executable)
            raise KeyboardInterrupt  # Ctrl-C while timing
    assert not (_children() & spinning)
