"""A coach that knows when it does not know: calibrated probabilities (one temperature fitted on the val split),
an "unsure" threshold on a familiarity score that tells random scribbles from the model's own drawings, events
that never contradict each other, and "I'm not sure what this is yet" in the API answer, the command and on the
/draw page (headless Chromium).

Everything runs on the session's small trained projects (``labeling_project``, round 0 with atlas clusters;
``concept_project``, round 1 with named concepts). They are trained briefly and follow ARTICULATE_TEST_SEED, so
the tests assert properties with margins (an AUROC, shares), never one machine's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.coach.accuracy import contradictions, random_scribbles, replay_unsure
from pipeline.coach.calibration import Calibration, auroc, cached_calibration, fit_temperature, mean_nll, outputs
from tests.defaults import UnsureSettings
from pipeline.coach.coach import UNSURE_TEXT
from pipeline.coach.events import detect
from tests.defaults import EventRules
from pipeline.data.store import read_split
from core.errors import ConfigError
from tests.test_coach import api, coach, val  # noqa: F401 (the round-0 coach, its val split, the API client)

#: Scribbles and own drawings compared; replays checked for contradictions.
SCRIBBLES, REPLAYS = 120, 50


@pytest.fixture(scope="module")
def scribbles(coach) -> tuple[list, np.ndarray]:
    """Random scribbles and their familiarities."""
    drawn = random_scribbles(SCRIBBLES, seed=3)
    return drawn, coach.calibration.familiarity_of(*outputs(coach.scorer, drawn))


# --- calibration --------------------------------------------------------------------------------------------

def test_fit_temperature_finds_the_temperature_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 5))
    scaled = np.exp(logits / 2.5)
    labels = np.array([rng.choice(5, p=row / row.sum()) for row in scaled])
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(2.5, rel=0.15)
    assert mean_nll(logits, labels, t) < mean_nll(logits, labels, 1.0)


def test_the_temperature_lowers_the_val_nll_and_calibrates_the_answer(coach, val) -> None:
    calibration = coach.calibration
    assert calibration.temperature > 0 and calibration.drawings > 0
    drawings = [s for s in val if s.word in coach.scorer.class_index]
    logits, _ = outputs(coach.scorer, drawings)
    labels = np.array([coach.scorer.class_index[s.word] for s in drawings])
    at_one, at_t = mean_nll(logits, labels, 1.0), mean_nll(logits, labels, calibration.temperature)
    assert at_t <= at_one + 1e-9 and (at_t, at_one) == pytest.approx(calibration.nll[::-1], abs=1e-6)
    if abs(calibration.temperature - 1.0) > 0.05:
        assert at_t < at_one
    # The answer's class probabilities are the calibrated ones.
    sketch = drawings[0]
    answer = coach.answer([s.tolist() for s in sketch.strokes])
    expected = calibration.probabilities(logits[:1])[0]
    reported = {c["name"]: c["p"] for c in answer["classes"]}
    for name, p in reported.items():
        assert p == pytest.approx(expected[coach.scorer.class_names.index(name)], abs=1e-3)
    assert answer["familiarity"]["temperature"] == pytest.approx(calibration.temperature, abs=1e-3)


def test_the_calibration_is_cached_until_its_inputs_change(coach, val, tmp_path: Path) -> None:
    key = tmp_path / "model.bytes"
    key.write_text("one")
    settings = UnsureSettings(max_per_class=10)
    first = cached_calibration(coach.scorer, val, val, settings, tmp_path, [key])
    files = list(tmp_path.glob("calibration-r0-*.npz"))
    assert len(files) == 1
    again = cached_calibration(coach.scorer, [], [], UnsureSettings(max_per_class=10, familiarity="energy"), tmp_path,
                               [key])  # read, not fitted (no drawings given); the familiarity is not part of the key
    assert again.temperature == first.temperature and again.thresholds == first.thresholds
    assert again.transform == first.transform and np.array_equal(again.scales, first.scales)
    assert again.familiarity == "energy" and again.threshold == first.thresholds["energy"]
    key.write_text("two")
    cached_calibration(coach.scorer, val, val, settings, tmp_path, [key])
    assert len(list(tmp_path.glob("calibration-r0-*.npz"))) == 2
    files[0].write_bytes(b"damaged")
    key.write_text("one")
    refit = cached_calibration(coach.scorer, val, val, settings, tmp_path, [key])
    assert isinstance(refit, Calibration) and refit.temperature == pytest.approx(first.temperature)


@pytest.mark.parametrize("settings, key", [(dict(familiarity="vibes"), "familiarity"), (dict(val_pass=1.0), "val_pass"),
                                           (dict(max_per_class=0), "max_per_class"), (dict(transform="log"), "transform")])
def test_unsure_settings_reject_bad_values(settings: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"coach.unsure.{key}"):
        UnsureSettings(**settings)


# --- out of distribution ------------------------------------------------------------------------------------

def test_auroc_counts_pairs() -> None:
    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auroc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert auroc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5


def test_combined_sums_energy_and_mahalanobis_standardised_over_val(labeling_project, coach, val) -> None:
    """``combined`` = energy and mahalanobis each minus its val mean over its val spread, summed: over the val
    drawings it was set on, each part has mean 0 and spread 1, so the sum has mean 0."""
    calibration = coach.calibration
    per_class = int(labeling_project.cfg().coach.unsure.max_per_class)
    own = [s for s in val if s.word in coach.scorer.class_index]
    assert max(sum(s.word == w for s in own) for w in coach.scorer.class_index) <= per_class  # all of them were read
    every = calibration.familiarities(*outputs(coach.scorer, own))
    (e_mean, e_std), (m_mean, m_std) = calibration.scales
    assert every["combined"] == pytest.approx((every["energy"] - e_mean) / e_std
                                              + (every["mahalanobis"] - m_mean) / m_std)
    assert e_std > 0 and m_std > 0
    assert every["energy"].mean() == pytest.approx(e_mean, abs=1e-6 * max(1.0, abs(e_mean)))
    assert every["mahalanobis"].std() == pytest.approx(m_std, rel=1e-6)
    assert abs(every["combined"].mean()) < 1e-6


def test_the_sqrt_transform_fits_the_class_means_on_the_root_of_the_activation(coach, val) -> None:
    from pipeline.coach.calibration import fit_calibration, transformed

    own = [s for s in val if s.word in coach.scorer.class_index]
    fit = own[: len(own) // 2]
    rooted = fit_calibration(coach.scorer, own, fit, UnsureSettings(transform="sqrt", max_per_class=1000))
    plain = fit_calibration(coach.scorer, own, fit, UnsureSettings(transform="none", max_per_class=1000))
    _, pooled = outputs(coach.scorer, fit)
    first = coach.scorer.class_index[fit[0].word]
    mine = [i for i, s in enumerate(fit) if coach.scorer.class_index[s.word] == first]
    assert rooted.means[first] == pytest.approx(transformed(pooled[mine], "sqrt").mean(axis=0))
    assert plain.means[first] == pytest.approx(pooled[mine].mean(axis=0))
    assert transformed(np.array([[-4.0, 0.0, 9.0]]), "sqrt") == pytest.approx(np.array([[-2.0, 0.0, 3.0]]))
    assert rooted.transform == "sqrt" and plain.transform == "none"


def test_the_familiarity_tells_scribbles_from_the_models_own_drawings(labeling_project, coach, val, scribbles) -> None:
    calibration = coach.calibration
    own = [s for s in val if s.word in coach.scorer.class_index]
    familiar = calibration.familiarity_of(*outputs(coach.scorer, own))
    _, strange = scribbles
    assert auroc(familiar, strange) > 0.8
    # The threshold is the configured share of the val drawings: that many pass it, the scribbles mostly do not.
    passed = float((familiar >= calibration.threshold).mean())
    val_pass = float(labeling_project.cfg().coach.unsure.val_pass)
    assert passed == pytest.approx(val_pass, abs=max(0.03, 2 / len(own)))
    assert float((strange < calibration.threshold).mean()) > 0.5


def test_replays_count_unsure_at_the_last_stroke_and_split_it_by_right_and_wrong(coach, val) -> None:
    """``replay_unsure``: the last frame of a replay is the whole drawing, so the drawings it counts as unsure at
    the last stroke are those whose whole drawing is below the threshold, and the model's reading at the last
    stroke splits them into right and wrong; drawings of other classes are skipped."""
    own = [s for s in val if s.word in coach.scorer.class_index and s.strokes][:24]
    stranger = random_scribbles(1, seed=5)[0]  # the word "scribble": no class of the model
    counts = replay_unsure(coach, [*own, stranger])
    logits, pooled = outputs(coach.scorer, own)
    below = coach.calibration.familiarity_of(logits, pooled) < coach.calibration.threshold
    read_right = logits.argmax(1) == np.array([coach.scorer.class_index[s.word] for s in own])
    assert counts.drawings == len(own) and counts.frames == sum(s.num_strokes for s in own)
    # One frame alone and a batch may differ in their last bits: at most one drawing on the threshold may tip.
    assert abs(counts.last_unsure - int(below.sum())) <= 1 and abs(counts.right - int(read_right.sum())) <= 1
    assert counts.unsure_right + counts.unsure_wrong == counts.last_unsure
    assert counts.unsure_right <= counts.right and counts.unsure_wrong <= counts.drawings - counts.right
    assert sum(n for n, _ in counts.per_class.values()) == len(own)
    assert sum(u for _, u in counts.per_class.values()) == counts.last_unsure
    assert counts.last_unsure <= counts.frames_unsure <= counts.frames and counts.contradictory == 0
    rates = counts.rates()
    assert rates["last_unsure"] == pytest.approx(counts.last_unsure / len(own), abs=1e-4)
    assert rates["wrong"] == len(own) - counts.right
    assert math.isnan(replay_unsure(coach, [stranger]).rates()["last_unsure"])  # nothing replayed: nan, not 0


# --- no contradictions --------------------------------------------------------------------------------------

def test_a_stroke_that_improves_a_concept_does_not_call_it_missing() -> None:
    belongs = np.ones(4, dtype=bool)
    complete = np.array([0.8, 0.2, 0.8, 0.8])  # concept 1 looks complete at a level still below missing_level
    gain = np.array([0.2, 1.0, 1.0, 1.0])
    now = np.array([0.15, 0.22, 0.1, 0.0])
    stroke = np.array([0.15, 0.0, 0.0, 0.0])
    rules = EventRules(improved_share=0.5, improved_min=0.1, missing_level=0.25)
    present = np.array([False, False, True, False])
    state = detect(np.zeros(4), now, stroke, belongs, complete, gain, rules, frame=1, present=present)
    assert ("improved", 0) in {(e.kind, e.concept) for e in state.events}
    # 0 was just improved, 1 looks complete, 2 is in the drawing: only 3 is missing.
    assert state.missing == [3] and 1 in state.complete


def _check_replays(coach, drawings: list, target_of) -> int:
    frames = 0
    for sketch in drawings:
        replay = coach.replay(sketch, target_of(sketch))
        assert contradictions(coach, replay) == 0, sketch.key_id
        belongs = coach.canon.belongs(coach.scorer.class_names.index(replay.target))
        for frame, unsure in zip(replay.frames, replay.unsure[1:]):
            said = {e.concept for e in frame.events}
            assert not said & set(frame.missing)
            assert all(belongs[k] for k in frame.missing)
            if unsure:
                assert not frame.events and not frame.complete
            frames += 1
    return frames


def test_no_replay_contradicts_itself(coach, val) -> None:
    """Replay val drawings read for the model's guess and for their own class: no frame says improved (or
    complete) and missing of one concept, and missing names only concepts of the class."""
    drawings = [s for s in val if s.word in coach.scorer.class_index and s.strokes][:REPLAYS]
    assert len(drawings) >= 50
    frames = _check_replays(coach, drawings[:REPLAYS // 2], lambda s: None)
    frames += _check_replays(coach, drawings[REPLAYS // 2:], lambda s: s.word)
    assert frames > 2 * REPLAYS


def test_no_contradiction_with_named_concepts(concept_project) -> None:
    coach = concept_project.coach()
    val = read_split(concept_project.folder / "dataset", "val")
    drawings = [s for s in val if s.word in coach.scorer.class_index and s.strokes][:30]
    assert _check_replays(coach, drawings, lambda s: None) > 30


# --- what the coach says --------------------------------------------------------------------------------------

def _strangest(scribbles) -> Any:
    drawn, familiarity = scribbles
    return drawn[int(np.argmin(familiarity))]


def test_the_api_answer_carries_unsure_and_the_score(api, coach, val, scribbles) -> None:
    scribble = [s.tolist() for s in _strangest(scribbles).strokes]
    answer = api.post("/api/feedback", json={"strokes": scribble}).json()
    assert answer["unsure"] is True
    familiarity = answer["familiarity"]
    assert familiarity["kind"] == coach.calibration.familiarity
    assert familiarity["value"] < familiarity["threshold"] == pytest.approx(coach.calibration.threshold, abs=1e-3)
    assert answer["sentences"][0] == {"kind": "unsure", "concept": None, "text": UNSURE_TEXT}
    # No praise and, for the model's own guess, nothing missing of a class it does not know.
    assert answer["events"] == [] and answer["complete"] == [] and answer["missing"] == []
    assert {s["kind"] for s in answer["sentences"]} == {"unsure"}
    named = api.post("/api/feedback", json={"strokes": scribble, "target": coach.scorer.class_names[0]}).json()
    assert named["unsure"] is True and named["events"] == [] and named["complete"] == []
    assert {s["kind"] for s in named["sentences"]} <= {"unsure", "missing"}
    # A drawing of its own classes that passes the threshold: sure, no doubt said.
    own = [s for s in val if s.word in coach.scorer.class_index]
    values = coach.calibration.familiarity_of(*outputs(coach.scorer, own))
    sure = own[int(np.argmax(values))]
    answer = api.post("/api/feedback", json={"strokes": [s.tolist() for s in sure.strokes]}).json()
    assert answer["unsure"] is False and answer["familiarity"]["value"] >= answer["familiarity"]["threshold"]
    assert "unsure" not in {s["kind"] for s in answer["sentences"]}


def test_the_feedback_command_says_it_is_not_sure(labeling_project, project_cwd, scribbles, tmp_path: Path,
                                                  capsys) -> None:
    import argparse
    import json

    from articulate.commands.coach import feedback_command

    record = _strangest(scribbles).to_ndjson_record()
    file = tmp_path / "scribble.ndjson"
    file.write_text(json.dumps(record) + "\n")
    args = argparse.Namespace(overrides=list(labeling_project.overrides), sketch=f"{file}:1", target=None, round=0,
                              out=str(tmp_path / "out"))
    feedback_command(args)
    printed = capsys.readouterr().out
    assert "read as not sure what it is" in printed and UNSURE_TEXT in printed
    document = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert document["frames"][-1]["unsure"] is True and document["frames"][-1]["familiarity"]["value"] is not None


# --- the page ---------------------------------------------------------------------------------------------------

@pytest.fixture
def pad(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Any]:
    from tests.conftest import opened_page
    from tests.test_draw_browser import Pad

    labeling_server.project.coach()
    with opened_page(browser, lambda page: Pad(page, labeling_server, tmp_path), 20_000) as pad:
        yield pad


def test_the_draw_page_says_not_sure(pad, scribbles) -> None:
    pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")
    for stroke in _strangest(scribbles).strokes:
        pad.draw([(float(x), float(y)) for x, y in zip(*stroke)])
    answer = pad.answer()
    assert answer["unsure"] is True, answer["familiarity"]
    sentences = pad.sentences()
    assert sentences[0][0] == "unsure" and UNSURE_TEXT in sentences[0][1]
    assert not {"improved", "complete"} & {kind for kind, _ in sentences}
    assert pad.tid("reading").inner_text() == "not sure yet"
    assert "not sure what this is yet" in pad.timeline()[-1]
    pad.shot("not-sure")


def test_the_benchmark_measures_the_not_sure_rates(labeling_project) -> None:
    """``bench_feedback.py --unsure``: the rates, the AUROC of each familiarity, and no contradictory frame."""
    import re

    from tests.test_bench_any_data import bench

    out = bench("bench_feedback", "--drawings", "5", "--events", "0", "--unsure", "20", "threads=1",
                *labeling_project.overrides)
    for line in ("random scribbles flagged unsure", "other classes' drawings flagged",
                 "own val drawings unsure at last stroke", "AUROC mahalanobis"):
        assert line in out, out
    frames = re.search(r"contradictory frames \(replays above\)\s+(\d+)\s+of\s+(\d+)", out)
    assert frames and frames[1] == "0" and int(frames[2]) > 20, out
    # The shared samples hold no drawing of the project's classes (bicycle, car, ...): it says so.
    assert "own REAL drawings                      none" in out, out


def test_the_benchmark_replays_real_drawings_of_the_models_own_classes(labeling_project, tmp_path: Path) -> None:
    """``--unsure --quickdraw DIR``: the drawings in DIR/ndjson/<class>.ndjson of the model's classes are replayed
    stroke by stroke; the others there are the classes it does not have."""
    import json
    import re

    from tests.defaults import SketchGenerator
    from tests.test_bench_any_data import bench

    folder = tmp_path / "ndjson"
    folder.mkdir()
    drawn = SketchGenerator(num_sketches=40, classes=["cat", "house", "tree"], seed=9, progress=False).load().sketches
    written = {}
    for word in ("cat", "house", "tree"):  # tree is none of the model's classes: one of the "others"
        mine = [s for s in drawn if s.word == word][:6]
        (folder / f"{word}.ndjson").write_text("".join(json.dumps(s.to_ndjson_record()) + "\n" for s in mine))
        written[word] = len(mine)
    figures = tmp_path / "figures.json"
    out = bench("bench_feedback", "--drawings", "5", "--events", "0", "--unsure", "10", "--quickdraw", str(tmp_path),
                "--json", str(figures), "threads=1", *labeling_project.overrides)
    real = re.search(r"own REAL drawings unsure at last stroke\s+([\d.]+)\s+of\s+(\d+)", out)
    assert real and int(real[2]) == written["cat"] + written["house"], out
    assert re.search(r"per class\s+cat \d+/6, house \d+/6", out), out
    assert re.search(r"other classes' drawings flagged\s+[\d.]+\s+of\s+6\b", out), out  # the tree file alone
    document = json.loads(figures.read_text())["unsure"]["real_own"]
    assert document["drawings"] == 12 and document["last_unsure"] == pytest.approx(float(real[1]), abs=1e-3)
    assert document["wrong"] + round(document["accuracy"] * 12) == 12
