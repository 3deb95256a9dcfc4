"""Shared fixtures: the project folder, small datasets, and a deliberate torch thread count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
QUICKDRAW = ROOT.parent / "shared" / "data" / "quickdraw"

# Two shared cores: more threads than cores makes small models many times slower.
torch.set_num_threads(2)
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture
def project_cwd(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from the project folder, where conf/ is."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture
def quickdraw_dir() -> Path:
    if not QUICKDRAW.is_dir():
        pytest.skip(f"the Quick, Draw! samples are not at {QUICKDRAW}")
    return QUICKDRAW
