"""How the coach's torch work runs beside the app's: its updates on an inference thread with ``coach.threads`` of
its own (the process keeps its count), and a build that stops at a safe point when the app or the process stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.coach.coach import Coach, strokes_to_sketch
from pipeline.coach.runtime import BuildStopped, StoppableThread, checkpoint
from core.errors import ConfigError
from tests.conftest import COMMAND_TIMEOUT, ROOT

#: A drawing of two strokes (Quick, Draw! layout).
STROKES = [[[40, 120, 200], [60, 60, 60]], [[120, 120], [60, 200]]]


def test_updates_run_on_the_coachs_threads_and_the_process_keeps_its_own(labeling_project) -> None:
    """coach.threads (1 in conf) on the coach's inference thread; the caller, and a thread started after it, keep
    the process's 2: the app's dreams and previews are not slowed to the coach's count."""
    coach = labeling_project.coach()
    assert coach.inference is not None and coach.inference.threads == int(labeling_project.cfg().coach.threads) == 1
    caller = Coach(coach.scorer, coach.canon, coach.rules, coach.limits, coach.top_classes, coach.calibration,
                   threads=None)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    own = coach_on_thread = None
    try:
        answer = coach.answer(STROKES)
        coach_on_thread = coach.inference.run(torch.get_num_threads)
        seen: list[int] = []
        later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        later.start()
        later.join()
        own = torch.get_num_threads()
        torch.set_num_threads(1)
        inline = caller.answer(STROKES)
    finally:
        torch.set_num_threads(before)
    assert (coach_on_thread, own, seen) == (1, 2, [2])
    assert caller.inference is None
    # The same numbers on either thread, one torch thread each.
    assert answer["levels"] == inline["levels"] and answer["classes"] == inline["classes"]
    replay = coach.replay(strokes_to_sketch(STROKES))
    np.testing.assert_array_equal(replay.levels[-1].round(4), [inline["levels"][c.id] for c in coach.concepts])


def test_a_negative_thread_count_is_refused(labeling_project) -> None:
    with pytest.raises(ConfigError, match=r"coach\.threads: expected 1 or more \(0: one per core\), got -1"):
        Coach.load(labeling_project.cfg("coach.threads=-1"), 0)


def test_a_stoppable_thread_stops_at_its_next_checkpoint() -> None:
    reached, ended = threading.Event(), []

    def work() -> None:
        try:
            while True:
                reached.set()
                checkpoint()
                time.sleep(0.01)
        except BuildStopped as err:
            ended.append(str(err))

    thread = StoppableThread(work, name="test-stoppable")
    thread.start()
    assert reached.wait(COMMAND_TIMEOUT)
    assert thread.stop(timeout=COMMAND_TIMEOUT)
    assert ended == ["the coach's build was stopped: the app is stopping"]
    checkpoint()  # outside a stoppable thread: never stops


#: A build of seconds even on a fast machine: the canon (not cached) read on the train split, one frame a batch.
SLOW_BUILD = ["coach.canon_split=train", "coach.canon.batch_size=1", "threads=1"]

#: Builds the app with a coach whose canon is not cached (many small batches: seconds of torch), exits while
#: the build is under way, and at exit (after the coach's own exit handler) prints how the build ended.
EXIT_SCRIPT = """
import atexit, json, sys, time
from functools import partial
sys.path.insert(0, {root!r})
room = None
atexit.register(lambda: print(json.dumps(room.status()), flush=True))  # runs after runtime's own
from conceptstore.store import ConceptStore
from labeling.app import _coach, create_app
from tests.defaults import AppSettings
from labeling.atlas_view import AtlasView
from pipeline.config import compose
cfg = compose({overrides!r})
view = AtlasView.load(cfg, 0)
app = create_app(view, ConceptStore({store!r}), AppSettings(port=0), coach=partial(_coach, cfg, 0))
while not hasattr(app, "state"):
    app = app.app
room = app.state.coaching
deadline = time.monotonic() + 60
while room.status()["state"] == "preparing" and room.status()["seconds"] < 0.5 and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps(room.status()), flush=True)
"""


def test_the_process_exits_cleanly_while_the_coach_is_being_built(labeling_project, tmp_path: Path) -> None:
    """A process that exits while the coach's build is inside torch aborted ("terminate called without an active
    exception"); the build is now stopped at its next batch first, and the process exits with 0."""
    overrides = [*labeling_project.overrides, *SLOW_BUILD, f"paths.cache={tmp_path / 'cache'}"]
    script = EXIT_SCRIPT.format(root=str(ROOT), overrides=overrides, store=str(tmp_path / "concepts.yaml"))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert "terminate called" not in result.stderr
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert before["state"] == "preparing"
    assert after == {"state": "failed", "seconds": 0.0,
                     "message": "the drawing coach cannot start: the coach's build was stopped: the app is stopping"}


def test_stopping_the_server_stops_the_coachs_build(labeling_project, tmp_path: Path) -> None:
    """The app's shutdown (uvicorn's lifespan) waits for the coach's build, stopped at a safe point."""
    import socket

    import uvicorn

    from conceptstore.store import ConceptStore
    from labeling.app import _coach, create_app
    from tests.defaults import AppSettings

    cfg = labeling_project.cfg(*SLOW_BUILD, f"paths.cache={tmp_path / 'cache'}")
    app = create_app(labeling_project.view, ConceptStore(tmp_path / "concepts.yaml"), AppSettings(port=0),
                     coach=lambda: _coach(cfg, 0))
    room = app
    while not hasattr(room, "state"):
        room = room.app
    room = room.state.coaching
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert room.status()["state"] == "preparing"
    server.should_exit = True
    thread.join(timeout=COMMAND_TIMEOUT)
    assert not thread.is_alive()
    assert not room._build.thread.is_alive()
    assert room.status()["message"].endswith("the coach's build was stopped: the app is stopping")
