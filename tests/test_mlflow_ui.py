"""`articulate ui` in a headless browser: MLflow opens on the runs table, with each round's stage runs under it.

A tiny SQLite store is built with :mod:`pipeline.tracking`'s own stage runs, then ``articulate ui`` is started
on a free loopback port and the URL it prints is opened in the system Chromium (``chromium`` on PATH).
The timeouts allow for a loaded two-core machine, where MLflow's server may take 30 s or more to answer.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium ('chromium' on PATH) for the browser test")

START_TIMEOUT_S = 180  # MLflow's server imports and migrates the store before it answers
PAGE_TIMEOUT_MS = 90_000
ROUNDS = {"0": ["train_base", "extract", "atlas", "evaluate"], "1": ["finetune", "extract", "atlas", "evaluate"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _overrides(folder: Path) -> list[str]:
    return [f"mlflow.artifact_location={folder / 'mlartifacts'}", f"paths.concepts={folder / 'concepts.yaml'}"]


@pytest.fixture
def store(tmp_path: Path, project_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A store with a top-level data run and rounds 0 and 1, each a parent run of its stage runs.

    Returns:
        ``uri``, ``experiment`` and ``rounds``: round -> (parent run id, {child run id: stage}).
    """
    import mlflow

    from pipeline import tracking
    from pipeline.config import compose

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = compose(_overrides(tmp_path))
    with tracking.stage_run(cfg, "data"):
        pass
    rounds: dict[str, tuple[str, dict[str, str]]] = {}
    for round_, stages in ROUNDS.items():
        children = {}
        for stage in stages:
            with tracking.stage_run(cfg, stage, tags={"round": round_}) as run:
                mlflow.log_metric("seconds", 1.0)
                children[run.info.run_id] = stage
                parent = run.data.tags["mlflow.parentRunId"]
        rounds[round_] = (parent, children)
    return {"uri": uri, "experiment": tracking.setup(cfg), "rounds": rounds}


def test_setup_marks_the_experiment_as_model_training(store: dict[str, Any], tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from pipeline import tracking
    from pipeline.config import compose

    client = MlflowClient(store["uri"])
    assert client.get_experiment(store["experiment"]).tags[tracking.EXPERIMENT_KIND_TAG] == tracking.EXPERIMENT_KIND
    # An experiment made before the tag existed is marked on the next setup.
    older = client.create_experiment("older")
    tracking.setup(compose([*_overrides(tmp_path), "mlflow.experiment=older"]))
    assert client.get_experiment(older).tags[tracking.EXPERIMENT_KIND_TAG] == tracking.EXPERIMENT_KIND


@pytest.fixture
def ui_url(store: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """``articulate ui`` on a free port, as a user starts it; yields the URL it prints once MLflow answers."""
    port = _free_port()
    log = tmp_path / "ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "articulate.cli", "ui", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env={**os.environ, "MLFLOW_TRACKING_URI": store["uri"]},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = _wait_until_served(proc, port, log)
        _assert_lean(proc.pid)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the command, MLflow's launcher and its uvicorn worker
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _wait_until_served(proc: subprocess.Popen, port: int, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"articulate ui exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        printed = re.search(r"MLflow UI on (\S+)", log.read_text(errors="replace"))
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
        except OSError:
            time.sleep(0.5)
            continue
        assert printed, "articulate ui did not print its URL"
        return printed.group(1)
    pytest.fail(f"MLflow did not answer within {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')}")


def _assert_lean(pid: int) -> None:
    """One request worker and no job runner (MLflow's huey consumers)."""
    import psutil

    commands = [" ".join(child.cmdline()) for child in psutil.Process(pid).children(recursive=True)]
    servers = [c for c in commands if "uvicorn" in c]
    assert len(servers) == 1 and "--workers 1" in servers[0], commands
    assert not [c for c in commands if "huey" in c or "jobs" in c], commands


def test_ui_opens_on_the_runs_table_with_rounds_and_their_stages(store: dict[str, Any], ui_url: str) -> None:
    assert f"/#/experiments/{store['experiment']}/runs" in ui_url
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(ui_url)

            def link(run_id: str) -> Any:  # a run's name in the table links to the run
                return page.locator(f'a[href$="/runs/{run_id}"]')

            for round_, (parent, children) in store["rounds"].items():
                parent_link = link(parent)
                parent_link.wait_for(state="visible")
                assert parent_link.inner_text() == f"round {round_}"
                assert not any(link(child).is_visible() for child in children)  # nested: folded under the parent
                page.locator(f'[role="row"][row-id="{parent}"] button').first.click()  # unfold
                for child, stage in children.items():
                    link(child).wait_for(state="visible")
                    assert link(child).inner_text() == stage
            # Model training, not MLflow 3's GenAI overview (traces, tokens, cost).
            assert "/overview" not in page.url
            assert page.get_by_text("Token Usage").count() == 0
        finally:
            browser.close()
