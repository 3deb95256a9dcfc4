"""Dreaming in the app (``POST /api/dream``, ``/api/jobs/<id>``) on the real small round-0 project: a dream runs
as a job with progress, can be cancelled, and bad requests get a clear 4xx; the job registry on its own."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from labeling.jobs import Jobs, UnknownJobError
from tests.jobs import wait_for_job

CAT = [[[40, 60, 80, 100, 120], [40, 42, 44, 46, 48]], [[60, 60, 62], [60, 120, 180]]]


def _wait(api: httpx.Client, job_id: str, timeout: float = 60.0) -> dict:
    return wait_for_job(api, job_id, timeout)


@pytest.fixture
def api(labeling_server):
    with httpx.Client(base_url=labeling_server.url, timeout=60, headers={"Origin": labeling_server.url}) as client:
        yield client


def test_a_dream_runs_as_a_job(api) -> None:
    started = api.post("/api/dream", json={"strokes": CAT, "channel": 2, "octaves": 2, "steps": 3,
                                           "as": "pixels"})
    assert started.status_code == 202, started.text
    done = _wait(api, started.json()["id"])
    assert done["status"] == "done" and done["progress"] == 1.0 and done["error"] is None
    assert done["result"]["image"].startswith("data:image/png;base64,") and "ch 2" in done["result"]["what"]
    at_layer = _wait(api, api.post("/api/dream", json={"point": 0, "layer": "features.block1", "octaves": 1,
                                                        "steps": 2}).json()["id"])
    assert at_layer["status"] == "done" and at_layer["result"]["what"] == "features.block1"


def test_a_dream_can_be_cancelled_and_the_coach_keeps_answering(api) -> None:
    job = api.post("/api/dream", json={"strokes": CAT, "octaves": 3, "steps": 100}).json()
    time.sleep(0.3)
    answered = api.post("/api/feedback", json={"strokes": CAT})  # scoring does not wait for the dream
    assert answered.status_code == 200
    assert api.delete(f"/api/jobs/{job['id']}").status_code == 200
    state = _wait(api, job["id"])
    assert state["status"] == "cancelled" and state["progress"] < 1.0


@pytest.mark.parametrize("body, status, words", [
    ({"strokes": CAT, "layer": "features.nope"}, 400, "unknown layer"),
    ({"strokes": CAT, "concept": "ear"}, 400, "no concepts to edit"),
    ({"strokes": CAT, "octaves": 9}, 400, "octaves"),
    ({"strokes": CAT, "point": 0}, 422, "strokes or as an atlas point"),
])
def test_bad_dreams_get_a_clear_4xx(api, body: dict, status: int, words: str) -> None:
    answer = api.post("/api/dream", json=body)
    assert answer.status_code == status and words in answer.json()["error"], answer.text


def test_unknown_jobs_and_failures(api) -> None:
    missing = api.get("/api/jobs/999999")
    assert missing.status_code == 404 and "no job" in missing.json()["error"]
    failed = _wait(api, api.post("/api/dream", json={"strokes": CAT, "channel": 99999, "steps": 1}).json()["id"])
    assert failed["status"] == "failed" and "channel" in failed["error"]


def test_jobs_run_one_at_a_time_and_report_progress() -> None:
    jobs = Jobs(keep=1)
    gate = threading.Event()
    order: list[str] = []

    def slow(progress):
        order.append("slow")
        for i in range(5):
            gate.wait(5)
            if not progress((i + 1) / 5):
                return "stopped"
        return "slow done"

    first = jobs.start(slow)
    second = jobs.start(lambda progress: order.append("quick") or "quick done")
    time.sleep(0.1)
    assert jobs.get(second.id).status == "queued"  # one worker
    gate.set()
    deadline = time.monotonic() + 10
    while jobs.get(second.id).status != "done" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert order == ["slow", "quick"] and first.result == "slow done" and second.result == "quick done"
    jobs.start(lambda progress: None)
    time.sleep(0.2)
    with pytest.raises(UnknownJobError):
        jobs.get(first.id)  # only the newest finished job is kept


def test_dreams_toward_a_class_and_a_cluster(api) -> None:
    toward_class = _wait(api, api.post("/api/dream", json={"strokes": CAT, "target_class": "cat", "octaves": 2,
                                                            "steps": 3, "as": "pixels"}).json()["id"])
    assert toward_class["status"] == "done" and toward_class["result"]["what"] == "class cat"
    toward_cluster = _wait(api, api.post("/api/dream", json={"point": 0, "cluster": 1, "octaves": 2,
                                                              "steps": 3, "as": "pixels"}).json()["id"])
    assert toward_cluster["status"] == "done" and toward_cluster["result"]["what"] == "cluster 1"
    assert toward_cluster["result"]["image"] != toward_class["result"]["image"]
    for body, status, words in [({"target_class": "unicorn"}, 400, "unknown target class 'unicorn'"),
                                ({"cluster": 999}, 404, "no cluster 999"),
                                ({"cluster": 1, "channel": 2}, 422, "not cluster and channel"),
                                ({"target_class": "cat", "layer": "features.block1"}, 422, "leave layer out")]:
        answer = api.post("/api/dream", json={"strokes": CAT, **body})
        assert answer.status_code == status and words in answer.json()["error"], answer.text


def test_a_feature_visualization_renders_once_and_is_then_read_from_the_cache(api, labeling_server, tmp_path) -> None:
    first = _wait(api, api.post("/api/visualize", json={"cluster": 1, "steps": 16, "as": "pixels"}).json()["id"])
    assert first["status"] == "done" and first["result"]["cached"] is False
    assert first["result"]["what"] == "cluster 1" and first["result"]["image"].startswith("data:image/png;base64,")
    kept = list((tmp_path / "cache" / "featurevis").rglob("*.png"))
    assert len(kept) == 1 and kept[0].parent.name.startswith("round_0-")
    again = api.post("/api/visualize", json={"cluster": 1, "steps": 16, "as": "pixels"}).json()
    again = _wait(api, again["id"])
    assert again["result"] == {**first["result"], "cached": True}
    channel = _wait(api, api.post("/api/visualize", json={"channel": 3, "steps": 16, "as": "pixels"}).json()["id"])
    assert channel["result"]["what"] == "channel 3" and channel["result"]["image"] != first["result"]["image"]
    for body, status, words in [({"concept": "ear"}, 400, "no concepts to edit"), ({}, 422, "one of concept"),
                                ({"channel": 3, "cluster": 1}, 422, "one of concept"),
                                ({"channel": 99999}, 400, "channel"), ({"channel": 3, "steps": 5}, 400, "steps")]:
        answer = api.post("/api/visualize", json=body)
        if answer.status_code == 202:  # a channel out of range fails in the job, with the sentence
            answer_json = _wait(api, answer.json()["id"])
            assert answer_json["status"] == "failed" and words in answer_json["error"], answer_json
            continue
        assert answer.status_code == status and words in answer.text, answer.text


def test_reliance_says_why_there_is_none_in_round_0(api) -> None:
    answer = api.get("/api/reliance").json()
    assert answer["available"] is False and answer["round"] == 0 and answer["concepts"] == []
    assert "evaluations" in answer["message"]
