"""The procedural generator of part-annotated sketches."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from pipeline.data.generator import CLASSES, DEFAULT_CLASSES
from tests.defaults import SketchGenerator
from core.ndjson import read_ndjson, write_ndjson
from core.errors import ConfigError


@pytest.fixture(scope="module")
def sample() -> list:
    return SketchGenerator(num_sketches=600, seed=7, progress=False).load().sketches


def test_classes_parts_and_shared_parts(sample: list) -> None:
    classes_of_part: dict[str, set[str]] = defaultdict(set)
    for sketch in sample:
        for part in sketch.parts:
            classes_of_part[part].add(sketch.word)
    assert len({s.word for s in sample}) == len(DEFAULT_CLASSES) >= 8
    assert len(classes_of_part) >= 15
    shared = sorted(p for p, owners in classes_of_part.items() if len(owners) >= 2)
    assert len(shared) >= 5, shared
    assert {"eye", "ear", "leg", "tail", "wheel", "window"} <= set(shared)


def test_quick_draw_layout(sample: list) -> None:
    for sketch in sample:
        assert sketch.num_strokes == len(sketch.parts) >= 2
        xy = np.concatenate(sketch.strokes, axis=1)
        assert xy.min() >= 0 and xy.max() <= 255
        assert np.array_equal(xy, np.rint(xy)), "simplified coordinates are integers"
        # Aligned to the top-left and scaled so the longer side spans 0..255, then simplified as Quick, Draw! did:
        # a point at the very edge may go when it is within the tolerance of the line through its neighbours.
        assert xy.min(axis=1).max() <= 2 and xy.max() >= 253


def test_simplified_like_quick_draw() -> None:
    """Ramer-Douglas-Peucker at 2 canvas units leaves a few long segments a stroke, as in Quick, Draw!'s files."""
    def points_and_segments(simplify: float) -> tuple[float, float]:
        sketches = SketchGenerator(num_sketches=40, seed=1, simplify=simplify, progress=False).load().sketches
        strokes = [s for sketch in sketches for s in sketch.strokes]
        return (float(np.mean([s.shape[1] for s in strokes])),
                float(np.median(np.concatenate([np.hypot(*np.diff(s, axis=1)) for s in strokes]))))

    (points, segment), (points_raw, segment_raw) = points_and_segments(2.0), points_and_segments(0.0)
    assert points < 0.6 * points_raw and segment > 1.5 * segment_raw
    # The real drawings' medians (all 295 shared classes): 9 points a stroke, segments of 23 canvas units.
    assert 5 <= points <= 14 and 14 <= segment <= 35


def test_outlines_open_like_a_hand() -> None:
    """With loop_gap, a closed outline (a face's head) begins anywhere and ends short of or past its start."""
    def heads(loop_gap: float) -> list:
        sketches = SketchGenerator(num_sketches=30, seed=2, classes=["face"], wobble=0.0, warp=0.0, simplify=0.0,
                                   loop_gap=loop_gap, progress=False).load().sketches
        return [stroke for s in sketches for stroke, part in zip(s.strokes, s.parts) if part == "head"]

    def gap(stroke: np.ndarray) -> float:
        return float(np.hypot(*(stroke[:, -1] - stroke[:, 0])))

    assert all(gap(s) <= 1.5 for s in heads(0.0))
    opened = [gap(s) for s in heads(0.2)]
    assert sum(g > 5 for g in opened) >= 10, opened


def test_warp_bends_smoothly() -> None:
    """The warp moves a drawing's points by a smooth field: neighbours along a stroke move nearly alike."""
    def drawings(warp: float) -> list:
        return SketchGenerator(num_sketches=20, seed=4, warp=warp, simplify=0.0, progress=False).load().sketches

    moved, jumps = [], []
    for plain, bent in zip(drawings(0.0), drawings(0.08)):
        for a, b in zip(plain.strokes, bent.strokes):
            shift = np.hypot(*(b - a))
            moved.append(shift.mean())
            jumps.append(np.abs(np.diff(shift)).mean() if shift.size > 1 else 0.0)
    assert np.mean(moved) > 3.0  # canvas units: the warp changes the drawing
    assert np.mean(jumps) < 0.5 * np.mean(moved)  # and does not scatter its points


def test_settings_are_checked() -> None:
    for key, value in (("loop_gap", 1.0), ("warp", -0.1), ("simplify", 50.0)):
        with pytest.raises(ConfigError, match=f"data.source.{key}"):
            SketchGenerator(num_sketches=1, progress=False, **{key: value})


def test_deterministic_for_a_seed_and_prefix_stable() -> None:
    small = SketchGenerator(num_sketches=20, seed=3, progress=False).load().sketches
    large = SketchGenerator(num_sketches=50, seed=3, progress=False).load().sketches
    other = SketchGenerator(num_sketches=20, seed=4, progress=False).load().sketches
    for a, b in zip(small, large[:20]):
        assert a.key_id == b.key_id and a.parts == b.parts
        assert all(np.array_equal(x, y) for x, y in zip(a.strokes, b.strokes))
    assert any(not np.array_equal(a.strokes[0], b.strokes[0]) for a, b in zip(small, other))


def test_balanced_classes(sample: list) -> None:
    counts = defaultdict(int)
    for sketch in sample:
        counts[sketch.word] += 1
    assert set(counts.values()) == {600 // len(DEFAULT_CLASSES)}


def test_variation_omitted_parts_order_and_pose(sample: list) -> None:
    by_class = defaultdict(list)
    for sketch in sample:
        by_class[sketch.word].append(sketch)
    cats = by_class["cat"]
    part_sets = {frozenset(s.parts) for s in cats}
    assert len(part_sets) > 1, "optional parts are sometimes omitted"
    assert all({"head", "ear", "body"} <= set(s.parts) for s in cats), "essential parts are always drawn"
    first_parts = {s.parts[0] for s in cats}
    assert len(first_parts) > 1, "stroke order varies"
    # Facing left or right: the head's x centre lies on either side of the body's.
    sides = set()
    for s in cats:
        head = np.concatenate([st for st, p in zip(s.strokes, s.parts) if p == "head"], axis=1)
        body = np.concatenate([st for st, p in zip(s.strokes, s.parts) if p == "body"], axis=1)
        sides.add(bool(head[0].mean() > body[0].mean()))
    assert sides == {True, False}
    # Proportions and jitter: no two drawings of a class are the same.
    assert len({s.strokes[0].tobytes() for s in cats}) == len(cats)


def test_no_wobble_no_jitter_is_regular() -> None:
    clean = SketchGenerator(num_sketches=10, wobble=0, jitter=0, rotation=0, aspect=0, omit_prob=0,
                            shuffle_prob=0, reverse_prob=0, progress=False).load().sketches
    noisy = SketchGenerator(num_sketches=10, progress=False).load().sketches
    assert [s.parts for s in clean[:1]] != [] and clean[0].word == "cat"
    # Without omissions every cat draws its whiskers; with the defaults some drawings lose optional parts.
    assert "whisker" in clean[0].parts
    assert sum(len(s.strokes) for s in clean) >= sum(len(s.strokes) for s in noisy)


def test_round_trip_through_ndjson(tmp_path, sample: list) -> None:
    path = tmp_path / "generated.ndjson"
    write_ndjson(path, sample[:30])
    back = read_ndjson(path).sketches
    assert [s.key_id for s in back] == [s.key_id for s in sample[:30]]
    assert [s.parts for s in back] == [s.parts for s in sample[:30]]
    assert all(np.array_equal(a, b) for x, y in zip(back, sample) for a, b in zip(x.strokes, y.strokes))


def test_partial_drawings(sample: list) -> None:
    sketch = sample[0]
    partial = sketch.first_strokes(2)
    assert partial.num_strokes == 2 and partial.parts == sketch.parts[:2]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"classes": ["cat", "unicorn"]}, "unicorn"), ({"omit_prob": 1.5}, "omit_prob"), ({"num_sketches": 0}, "num_sketches"),
     ({"wobble": -1}, "wobble"), ({"classes": []}, "classes")],
)
def test_bad_settings_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        SketchGenerator(progress=False, **kwargs)


def test_part_names_cover_every_class() -> None:
    generator = SketchGenerator(num_sketches=10, classes=["car", "bicycle"], progress=False)
    assert generator.part_names() == sorted(["chassis", "window", "wheel", "door", "headlight", "frame", "handlebar", "seat", "pedal"])


# --- the opt-in classes that Quick, Draw! has real drawings of ---------------------------------------------------

#: Each opt-in class and the parts its template can draw.
OPT_IN = {
    "apple": {"body", "stem", "leaf"},
    "sun": {"disc", "ray", "eye", "mouth"},
    "umbrella": {"canopy", "rib", "handle"},
    "cup": {"body", "rim", "handle", "liquid"},
    "mushroom": {"cap", "stem", "spot"},
    "snowman": {"head", "body", "eye", "nose", "arm", "button", "hat"},
    "candle": {"body", "wick", "flame", "holder"},
    "cactus": {"trunk", "arm", "spine", "pot"},
    "clock": {"rim", "hand", "tick"},
}


@pytest.fixture(scope="module")
def opt_in() -> list:
    return SketchGenerator(num_sketches=60 * len(OPT_IN), classes=list(OPT_IN), seed=5, progress=False).load().sketches


def test_null_draws_the_ten_default_classes_only() -> None:
    assert SketchGenerator(num_sketches=1, progress=False).class_names == DEFAULT_CLASSES
    assert set(OPT_IN) <= set(CLASSES) and not set(OPT_IN) & set(DEFAULT_CLASSES)


def test_opt_in_classes_name_every_stroke_and_draw_their_parts(opt_in: list) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for sketch in opt_in:
        assert sketch.num_strokes == len(sketch.parts) >= 1
        assert set(sketch.parts) <= OPT_IN[sketch.word], sketch.parts
        assert CLASSES[sketch.word].essential <= set(sketch.parts), (sketch.word, sketch.parts)
        xy = np.concatenate(sketch.strokes, axis=1)
        assert xy.min(axis=1).max() <= 2 and xy.max() >= 253
        seen[sketch.word].update(sketch.parts)
    # In 60 drawings of each class every part shows up at least once, the rare ones too.
    assert seen == OPT_IN
    generator = SketchGenerator(num_sketches=1, classes=list(OPT_IN), progress=False)
    assert generator.part_names() == sorted(set().union(*OPT_IN.values()))


def test_opt_in_classes_share_parts_with_the_default_ones() -> None:
    defaults = set(SketchGenerator(num_sketches=1, progress=False).part_names())
    shared = defaults & set().union(*OPT_IN.values())
    assert {"head", "eye", "nose", "mouth", "body", "stem", "leaf", "trunk"} <= shared


def test_opt_in_classes_vary(opt_in: list) -> None:
    by_class = defaultdict(list)
    for sketch in opt_in:
        by_class[sketch.word].append(sketch)
    for word, sketches in by_class.items():
        assert len({frozenset(s.parts) for s in sketches}) > 1, f"{word}: optional parts come and go"
        assert len({s.num_strokes for s in sketches}) > 1, f"{word}: the number of strokes varies"
        assert len({s.strokes[0].tobytes() for s in sketches}) == len(sketches), f"{word}: no two drawings alike"


@pytest.mark.parametrize("word", sorted(OPT_IN))
def test_opt_in_classes_are_deterministic_per_seed(word: str) -> None:
    def draw(seed: int) -> list:
        return SketchGenerator(num_sketches=6, classes=[word, "flower"], seed=seed, progress=False).load().sketches

    first, again, other = draw(11), draw(11), draw(12)
    assert [s.parts for s in first] == [s.parts for s in again]
    assert all(np.array_equal(a, b) for x, y in zip(first, again) for a, b in zip(x.strokes, y.strokes))
    assert any(not np.array_equal(x.strokes[0], y.strokes[0]) for x, y in zip(first, other))


def test_short_strokes_stay_straight() -> None:
    """A cat's whiskers are short: drawn steady, they bend away from the line between their ends far less. The opt-in
    classes' templates are steady by themselves; ``steady`` draws every class so."""
    def bend(classes: list[str], part: str, steady: bool) -> float:
        sketches = SketchGenerator(num_sketches=20, classes=classes, seed=2, steady=steady, progress=False).load().sketches
        worst = []
        for s in sketches:
            for stroke, name in zip(s.strokes, s.parts):
                a, d = stroke[:, 0], stroke[:, -1] - stroke[:, 0]
                length = float(np.hypot(*d))
                if name == part and length > 0:  # the largest distance from the chord, relative to its length
                    worst.append(float(np.abs(d[0] * (stroke[1] - a[1]) - d[1] * (stroke[0] - a[0])).max()) / length ** 2)
        return float(np.median(worst))

    assert bend(["cat"], "whisker", True) < 0.5 * bend(["cat"], "whisker", False)
    assert bend(["sun"], "ray", False) == bend(["sun"], "ray", True)  # the sun's rays are steady either way


def test_the_human_style_is_an_option_and_the_default_draws_the_templates() -> None:
    """data=generated_human turns on how people draw; the default data keeps the templates' own strokes."""
    from pipeline.config import compose

    default, human = compose([]).data.source, compose(["data=generated_human"]).data.source
    assert (default.steady, default.loop_gap, default.warp, default.simplify) == (False, 0.0, 0.0, 0.0)
    assert human.steady and human.loop_gap > 0 and human.warp > 0 and human.simplify > 0
    assert compose(["data=generated_human"]).data.name == "generated"
    assert compose(["data=mixed"]).data.source.warp == human.warp  # data=mixed draws its generated part the same way
