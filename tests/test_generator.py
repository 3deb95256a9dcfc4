"""The procedural generator of part-annotated sketches."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from pipeline.data.generator import CLASSES, SketchGenerator
from pipeline.data.ndjson import read_ndjson, write_ndjson
from pipeline.errors import ConfigError


@pytest.fixture(scope="module")
def sample() -> list:
    return SketchGenerator(num_sketches=600, seed=7, progress=False).load().sketches


def test_classes_parts_and_shared_parts(sample: list) -> None:
    classes_of_part: dict[str, set[str]] = defaultdict(set)
    for sketch in sample:
        for part in sketch.parts:
            classes_of_part[part].add(sketch.word)
    assert len({s.word for s in sample}) == len(CLASSES) >= 8
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
        # Aligned to the top-left and scaled so the longer side spans 0..255.
        assert xy.min(axis=1).tolist() == [0, 0]
        assert xy.max() == 255


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
    assert set(counts.values()) == {600 // len(CLASSES)}


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
