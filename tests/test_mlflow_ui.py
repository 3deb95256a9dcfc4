"""`articulate ui` in a headless browser: MLflow opens on the runs table (from the printed URL and from the root),
with each round's stage runs under it and its metrics, sends no telemetry, and stops with its whole server.

A tiny SQLite store is built with :mod:`pipeline.tracking`'s own stage runs, then ``articulate ui`` is started
on a free loopback port and the URL it prints is opened in the system Chromium (``chromium`` on PATH).
The timeouts allow for a loaded two-core machine, where MLflow's server may take 30 s or more to answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from articulate.mlflow_app import WORKFLOW_KEY
from tests.conftest import ROOT

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium ('chromium' on PATH) for the browser test")

START_TIMEOUT_S = 180  # MLflow's server imports and migrates the store before it answers
PAGE_TIMEOUT_MS = 90_000
ROUNDS = {"0": ["train_base", "extract", "atlas", "evaluate"], "1": ["finetune", "extract", "atlas", "evaluate"]}
#: What the evaluate stage logs to its round's run (a part of it).
ROUND_METRICS = {"0": {"class_acc": 0.9125, "parts_discovered": 0.0}, "1": {"class_acc": 0.9375, "parts_discovered": 3.0}}
#: Variables under which MLflow keeps its telemetry off by itself (a test or CI run): the server is started without
#: them, so that only the project's own switch can keep it off.
TESTING_VARIABLES = ("PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")


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
                if stage == "evaluate":
                    tracking.log_to_round_run(ROUND_METRICS[round_], {})
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


class Ui:
    """``articulate ui`` running: its process, port, the URL it printed, and its log."""

    def __init__(self, proc: subprocess.Popen, port: int, url: str, log: Path) -> None:
        self.proc, self.port, self.url, self.log = proc, port, url, log
        self.server = [child.pid for child in _children(proc.pid)]  # MLflow's launcher and its uvicorn worker

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def start_ui(uri: str, log: Path) -> Ui:
    """``articulate ui`` on a free port, as a user starts it (in a process group of its own, so that a failed test
    can end all of it); returns once MLflow answers."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in TESTING_VARIABLES}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "articulate.cli", "ui", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env={**env, "MLFLOW_TRACKING_URI": uri},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return Ui(proc, port, _wait_until_served(proc, port, log), log)
    except BaseException:
        _kill(proc)
        raise


def _kill(proc: subprocess.Popen) -> None:
    """End what is left of ``articulate ui``'s process group after a test."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def _children(pid: int) -> list[Any]:
    import psutil

    return psutil.Process(pid).children(recursive=True)


@pytest.fixture
def ui(store: dict[str, Any], tmp_path: Path) -> Iterator[Ui]:
    """``articulate ui`` on the store; stopped with SIGTERM to its own process only, as a service manager stops it:
    the teardown checks that it ends its MLflow server with it."""
    running = start_ui(store["uri"], tmp_path / "ui.log")
    try:
        _assert_lean(running.proc.pid)
        yield running
        _assert_stops(running, signal.SIGTERM)
    finally:
        _kill(running.proc)


def _assert_stops(ui: Ui, signum: int) -> None:
    """``signum`` to ``articulate ui`` alone ends it, its MLflow launcher and workers, and frees the port."""
    import psutil

    assert ui.server, "articulate ui started no MLflow server"
    os.kill(ui.proc.pid, signum)
    ui.proc.wait(timeout=90)
    deadline = time.monotonic() + 30
    left = ui.server
    while left and time.monotonic() < deadline:
        left = [pid for pid in ui.server if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        time.sleep(0.2)
    assert not left, f"MLflow's processes outlived articulate ui: {left}"
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the browser's closed connections
        sock.bind(("127.0.0.1", ui.port))  # no server listens on the port any more


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


def test_ui_opens_on_the_runs_table_with_rounds_and_their_stages(store: dict[str, Any], ui: Ui) -> None:
    runs = f"/#/experiments/{store['experiment']}/runs?workflowType=machine_learning"
    assert ui.url == f"http://127.0.0.1:{ui.port}{runs}"
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            # Wide: the table shows only the columns in view, and MLflow's assistant takes a third of the window.
            page = browser.new_page(viewport={"width": 2400, "height": 900})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(ui.url)

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
            _assert_round_metrics(page, store)
            # The server's root opens the same runs table, in the Model training view.
            page.goto(ui.root)
            page.wait_for_url(re.compile(re.escape(runs.removeprefix("/"))))
            link(store["rounds"]["1"][0]).wait_for(state="visible")
            # ... and makes Model training the browser's default view of the UI (it had made no choice).
            assert page.evaluate(f"localStorage.getItem('{WORKFLOW_KEY}')") == '"machine_learning"'
        finally:
            browser.close()
    assert {urllib.parse.urlsplit(url).hostname for url in requests} == {"127.0.0.1"}, requests
    _assert_no_telemetry(ui)


def _assert_round_metrics(page: Any, store: dict[str, Any]) -> None:
    """The rounds' metrics are the table's columns to pick (Columns), and picked, each round's row shows its own."""
    page.get_by_role("button", name="Columns", exact=True).click()
    page.get_by_text("class_acc", exact=True).first.click()
    page.keyboard.press("Escape")
    column = '[col-id="metrics.`class_acc`"]'
    page.locator(f'[role="columnheader"]{column}').wait_for(state="visible")
    for round_, (parent, _children) in store["rounds"].items():
        cell = page.locator(f'[role="row"][row-id="{parent}"] {column}').first
        cell.wait_for(state="visible")
        assert float(cell.inner_text()) == pytest.approx(ROUND_METRICS[round_]["class_acc"], abs=1e-3)


def _assert_no_telemetry(ui: Ui) -> None:
    """The server tells the UI that telemetry is off, and no page sent any (its worker asks, then stays quiet)."""
    with urllib.request.urlopen(f"{ui.root}ajax-api/3.0/mlflow/ui-telemetry", timeout=30) as answer:
        assert json.load(answer)["disable_ui_telemetry"] is True
    served = ui.log.read_text(errors="replace")
    assert "GET /ajax-api/3.0/mlflow/ui-telemetry" in served  # the page's telemetry worker did ask
    assert "POST /ajax-api/3.0/mlflow/ui-telemetry" not in served


def test_ui_stops_its_server_on_ctrl_c(store: dict[str, Any], tmp_path: Path) -> None:
    running = start_ui(store["uri"], tmp_path / "ui.log")
    try:
        _assert_stops(running, signal.SIGINT)
    finally:
        _kill(running.proc)


def test_no_project_process_starts_mlflow_telemetry() -> None:
    """A stage's process (which imports mlflow before pipeline.tracking) has MLflow's telemetry client off."""
    env = {k: v for k, v in os.environ.items() if k not in TESTING_VARIABLES}
    probe = ("import pipeline.stages.data, mlflow.telemetry, os; "
             "print(mlflow.telemetry.get_telemetry_client(), os.environ['MLFLOW_DISABLE_TELEMETRY'])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout.split()
    assert out[-2:] == ["None", "true"]
