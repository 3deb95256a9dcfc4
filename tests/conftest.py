"""Shared fixtures: the project folder, small datasets, the trained test project, and a deliberate torch thread
count.

Running the tests on your machine
---------------------------------
Several fixtures train a small model during the test run (``labeling_project`` and ``concept_project``, built
by tests/labeling_project.py) and tests read its atlas, its coach and its evaluations. A trained model's
numbers differ from one CPU to another and with the number of torch threads (float sums run in another
order), so the tests assert properties with margins, or derive what they expect from the fixture itself, never
one machine's exact outcome. Two environment variables set how the fixtures are built:

``ARTICULATE_TEST_THREADS``
    Torch CPU threads used to build the trained fixtures and in every test process (an integer >= 1; default 1
    under pytest-xdist, 2 otherwise). Each test starts with this count, whatever a test before it set.
``ARTICULATE_TEST_SEED``
    Seed of the test project's generated data, its training and its atlas (an integer >= 0; default 0). The
    suite passes with any seed; a failure under another seed is a test that leaned on one outcome.

For example ``ARTICULATE_TEST_THREADS=1 ARTICULATE_TEST_SEED=7 .venv/bin/pytest -n 0 tests/test_coach.py``.
A bad value stops the run with one line naming the variable.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
QUICKDRAW = ROOT.parent / "shared" / "data" / "quickdraw"


#: What is wrong with the run's environment variables (said once, by ``pytest_configure``).
_ENV_ERRORS: list[str] = []


def _env_int(name: str, default: int, least: int) -> int:
    """An integer environment variable of the test run (``default`` when unset or empty, or when it is bad: the
    run then stops in ``pytest_configure`` with one line naming it)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        _ENV_ERRORS.append(f"{name}={text!r}: expected an integer >= {least} (unset: {default})")
        return default
    return value


#: Torch threads of the test processes and of the trained fixtures' builds. Two shared cores: more threads
#: than cores makes small models many times slower; the suite runs in two workers (pytest-xdist,
#: pyproject.toml), so one thread each there. The tiny preset's stages run on one thread too.
TEST_THREADS = _env_int("ARTICULATE_TEST_THREADS", 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2, least=1)
#: Seed of the test project's data, training and atlas (tests/labeling_project.py).
TEST_SEED = _env_int("ARTICULATE_TEST_SEED", 0, least=0)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a bad ARTICULATE_TEST_* value before anything runs."""
    if _ENV_ERRORS:
        raise pytest.UsageError("; ".join(_ENV_ERRORS))


torch.set_num_threads(TEST_THREADS)
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# One numba cache for every copy of the project a test makes: UMAP compiles once per machine, not per copy.
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

#: Seconds one command of a test (a `dvc repro` of a tiny round) may take on a loaded 2-core machine.
COMMAND_TIMEOUT = 600


def run_command(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None,
                timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a command in its own process group and kill the whole group if the test stops waiting.

    ``subprocess.run`` kills only its direct child on a timeout, and nothing when pytest-timeout interrupts
    the test: a `dvc repro` killed that way leaves its stage process writing outputs for a minute.
    """
    process = subprocess.Popen(list(args), cwd=cwd, env=None if env is None else dict(env), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        kill_group(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_group(process: subprocess.Popen) -> None:
    """Kill a process started with ``start_new_session=True`` and every process it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture(autouse=True)
def _torch_threads_kept() -> Iterator[None]:
    """Every test starts with ``TEST_THREADS`` torch threads: a stage run in the test's process
    (``stage_main`` sets ``cfg.threads``) must not change the numbers of the tests and fixtures after it."""
    torch.set_num_threads(TEST_THREADS)
    yield
    torch.set_num_threads(TEST_THREADS)


@contextlib.contextmanager
def fixture_threads() -> Iterator[None]:
    """Build a trained fixture on exactly ``TEST_THREADS`` torch threads (whichever test asked for it first)."""
    before = torch.get_num_threads()
    torch.set_num_threads(TEST_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _tracking_uri_kept() -> Iterator[None]:
    """``mlflow.set_tracking_uri`` (MLflow 3) also writes ``$MLFLOW_TRACKING_URI``, which the stages read first: a
    test that points MLflow at its project must not send the next tests' runs there."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture
def project_cwd() -> Path:
    """The project folder, where conf/ is (compose finds it from the working directory upward)."""
    return ROOT


@pytest.fixture
def quickdraw_dir() -> Path:
    if not QUICKDRAW.is_dir():
        pytest.skip(f"the Quick, Draw! samples are not at {QUICKDRAW}")
    return QUICKDRAW


# --- model files --------------------------------------------------------------------------------------------

def save_sketch_cnn(path: Path, classes: list[str], widths: list[int], *, net=None, size: int = 64,
                    round_: int = 0) -> None:
    """Write a SketchCNN as a round's ``model.pt`` with the project's own writer (``save_trained``).

    Args:
        path: The file; its folder is made.
        classes: Output index -> class name.
        widths: The net's block widths.
        net: A trained SketchCNN of those widths (default: a new one, as initialised).
        size: The raster size it reads.
        round_: The round it belongs to.
    """
    from pipeline.data.raster import RasterSpec
    from pipeline.models.build import TrainedModel, save_trained
    from pipeline.models.sketch_cnn import SketchCNN, default_input_spec

    net = net if net is not None else SketchCNN(len(classes), widths=widths)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_trained(TrainedModel(net=net, class_names=list(classes), input_spec=default_input_spec(),
                              raster=RasterSpec(size=size, line_width=2.0), layer="features.block3", round=round_,
                              net_config={"_target_": "pipeline.models.sketch_cnn.SketchCNN", "widths": list(widths)}),
                 path)


# --- the labeling app ---------------------------------------------------------------------------------------

class LabelingProject:
    """A built round-0 project in a temporary folder (see tests/labeling_project.py)."""

    round = 0  # the round its view shows

    def __init__(self, folder: Path, overrides: list[str]) -> None:
        self.folder, self.overrides = folder, overrides
        self._view = None
        self._coach = None

    def cfg(self, *extra: str):
        from pipeline.config import compose

        return compose([*self.overrides, *extra])

    def coach(self):
        """The round-0 drawing coach (its canon cached in the project folder, so built once per test run)."""
        from pipeline.coach.coach import Coach

        if self._coach is None:
            self._coach = Coach.load(self.cfg(f"paths.cache={self.folder / 'cache'}"), 0)
        return self._coach

    @property
    def view(self):
        """The atlas view of the project's round (built once: it caches activation vectors and patches)."""
        from labeling.atlas_view import AtlasView

        if self._view is None:
            self._view = AtlasView.load(self.cfg(), self.round)
        return self._view


@pytest.fixture(scope="session")
def labeling_project(tmp_path_factory: pytest.TempPathFactory) -> LabelingProject:
    from tests import labeling_project as builder

    folder = tmp_path_factory.mktemp("labeling_project")
    with fixture_threads():
        overrides = builder.build(folder, seed=TEST_SEED)
    return LabelingProject(folder, overrides)


class ConceptProject(LabelingProject):
    """A built round-1 project with two named concepts (see ``tests/labeling_project.py: build_round_1``)."""

    round = 1

    def __init__(self, folder: Path, overrides: list[str], concepts: list[str]) -> None:
        super().__init__(folder, overrides)
        self.concepts = concepts

    def coach(self):
        from pipeline.coach.coach import Coach

        if self._coach is None:
            self._coach = Coach.load(self.cfg(f"paths.cache={self.folder / 'cache'}"), 1)
        return self._coach


@pytest.fixture(scope="session")
def concept_project(labeling_project: LabelingProject, tmp_path_factory: pytest.TempPathFactory) -> ConceptProject:
    """Round 1 of a small project: two concepts promoted from the round-0 atlas, fine-tuned (one epoch),
    extracted, mapped and evaluated (with the reliance table); about half a minute, once per test run."""
    from tests import labeling_project as builder

    folder = tmp_path_factory.mktemp("concept_project")
    with fixture_threads():
        overrides, concepts = builder.build_round_1(labeling_project.folder, folder, seed=TEST_SEED)
    return ConceptProject(folder, overrides, concepts)


class RunningServer:
    """The labeling app served by uvicorn in a thread on a free loopback port; ``stop()`` ends it."""

    def __init__(self, app, project: LabelingProject, store) -> None:
        import socket
        import threading

        import uvicorn

        self.project, self.store = project, store
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        import time

        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the labeling server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def labeling_server(labeling_project: LabelingProject, tmp_path: Path):
    """The app on the project's round-0 atlas with an empty concept store in ``tmp_path``."""
    from labeling.app import create_app
    from tests.defaults import AppSettings
    from conceptstore.store import ConceptStore

    store = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    app = create_app(labeling_project.view, store, AppSettings(port=0, cache_dir=str(tmp_path / "cache")),
                     coach=labeling_project.coach)
    running = RunningServer(app, labeling_project, store)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def concept_server(concept_project: ConceptProject, tmp_path: Path):
    """The app on the round-1 project (concepts, their head, reliance), its own concept store copied to
    ``tmp_path`` so that a test's writes stay its own."""
    import shutil

    from labeling.app import create_app
    from tests.defaults import AppSettings
    from conceptstore.store import ConceptStore

    shutil.copytree(concept_project.folder / "concepts", tmp_path / "concepts")
    store = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    cfg = concept_project.cfg()
    settings = AppSettings(port=0, cache_dir=str(tmp_path / "cache"), evaluation_dir=str(cfg.paths.evaluation))
    app = create_app(concept_project.view, store, settings, coach=concept_project.coach)
    running = RunningServer(app, concept_project, store)
    try:
        yield running
    finally:
        running.stop()


#: The page tests' browser window, and how long a page may take to be ready on a loaded machine.
VIEWPORT = {"width": 1440, "height": 900}
READY_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system Chromium (``chromium`` on PATH) driven by Playwright; Playwright's own browser downloads
    are not used. Skips the test without Playwright or Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no system Chromium ('chromium' on PATH) for the browser tests")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def opened_page(browser: Any, helper: Callable[[Any], Any], timeout_ms: int, **context: Any) -> Iterator[Any]:
    """A page in a fresh browser context, wrapped by a test helper that has ``open()`` and ``check_errors()``:
    opened before the test, checked for errors after it, closed either way."""
    window = browser.new_context(viewport=VIEWPORT, **context)
    page = window.new_page()
    page.set_default_timeout(timeout_ms)
    wrapped = helper(page)
    try:
        wrapped.open()
        yield wrapped
        wrapped.check_errors()
    finally:
        window.close()


class PageHelper:
    """A page of one test and its server: test-id lookups, the page's ``window.articulate`` hooks, screenshots,
    and everything the browser complained about (any page error, console error or dialog fails the test, but
    for the ``allowed`` patterns).

    Subclasses set ``path`` (the page) and may add what their page needs.
    """

    path = "/"
    idle_timeout_ms = 30_000

    def __init__(self, page: Any, server: Any, shots: Path) -> None:
        self.page, self.server, self.shots = page, server, shots
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        page.on("pageerror", lambda err: self.errors.append(f"pageerror: {err}"))
        page.on("console", lambda msg: self.errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("dialog", lambda dialog: (self.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))

    def open(self, path: str | None = None) -> None:
        """Go to the page and wait until it says it is ready."""
        self.page.goto(self.server.url + (path or self.path), wait_until="commit")
        self.ready()

    def ready(self) -> None:
        """Wait until the page says it is ready (after a navigation of its own, too)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function("window.articulate && window.articulate.ready === true",
                                        timeout=READY_TIMEOUT_MS)
        except PlaywrightTimeout:
            raise AssertionError(f"the page did not get ready: {self.status()}, {self.errors}") from None

    def idle(self) -> None:
        """Wait until the page has nothing in flight."""
        self.page.wait_for_function("window.articulate.idle === true", timeout=self.idle_timeout_ms)

    def tid(self, name: str) -> Any:
        return self.page.get_by_test_id(name)

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def status(self) -> tuple[str, str]:
        box = self.tid("status")
        return box.get_attribute("data-kind") or "", box.inner_text()

    def shot(self, name: str, least_bytes: int = 10_000) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        assert path.is_file() and path.stat().st_size > least_bytes, f"{path} is missing or nearly empty"
        return path

    def check_errors(self) -> None:
        unexpected = [e for e in self.errors if not any(p.search(e) for p in self.allowed)]
        assert not unexpected, unexpected
