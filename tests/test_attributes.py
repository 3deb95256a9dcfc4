"""What a generated drawing is like as a whole (its attributes): recorded by the generator without changing a
drawing, carried through ndjson and the dataset folder, and measured against clusters by the atlas."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.ndjson import read_ndjson, write_ndjson
from core.sketch import Sketch
from pipeline.atlas.attributes import MIN_CLUSTER, align, attribute_alignment, attribute_codes, attribute_metrics
from pipeline.data.generator import ATTRIBUTES, CLASSES
from pipeline.data.store import Manifest, attribute_values, read_manifest, read_split, write_manifest, write_split
from tests.defaults import SketchGenerator

#: The default generator's settings (conf/data/generated.yaml), spelled out so that a change there does not hide a
#: change of the drawings.
DEFAULT = dict(classes=None, seed=0, omit_prob=0.12, jitter=1.0, wobble=1.0, rotation=12.0, aspect=0.15,
               shuffle_prob=0.25, reverse_prob=0.3, spacing=5.0, steady=False, loop_gap=0.0, warp=0.0, simplify=0.0)
#: The human style (conf/data/generated_human.yaml) and every opt-in class, to pass through every branch.
HUMAN = DEFAULT | dict(seed=3, aspect=0.25, steady=True, loop_gap=0.1, warp=0.08, simplify=2.0,
                       classes=["apple", "sun", "umbrella", "cup", "mushroom", "snowman", "candle", "cactus", "clock",
                                "flower", "face", "cat"])


def _fingerprint(sketches: list[Sketch]) -> str:
    """A digest of the drawings as the dataset stores them, attributes left out."""
    digest = hashlib.sha256()
    for sketch in sketches:
        record = sketch.to_ndjson_record()
        record.pop("attributes", None)
        digest.update(json.dumps(record, sort_keys=True).encode())
    return digest.hexdigest()


@pytest.mark.parametrize(("settings", "expected"), [
    (DEFAULT, "d50fe94f20c865e2c933ba38e5dea868f0fa1f5b790ceb065335a2336863d9e6"),
    (HUMAN, "c45aa0b0171b5a1a7ad7208dcea63263efbe2d84065d1cf27b0cc1bb19754987"),
])
def test_recording_attributes_changes_no_drawing(settings: dict, expected: str) -> None:
    """The digests of 200 drawings (key_ids, words, strokes, parts) as the generator drew them before it recorded
    attributes: recording them draws no random number, so every drawing, and every figure of the loop, stays."""
    sketches = SketchGenerator(num_sketches=200, progress=False, **settings).load().sketches
    assert _fingerprint(sketches) == expected
    assert all(s.attributes for s in sketches)


@pytest.fixture(scope="module")
def sample() -> list[Sketch]:
    return SketchGenerator(num_sketches=1200, progress=False, **DEFAULT).load().sketches


def test_every_drawing_records_its_attributes(sample: list[Sketch]) -> None:
    for sketch in sample:
        expected = set(ATTRIBUTES) - (set() if CLASSES[sketch.word].mirror else {"facing"})
        assert set(sketch.attributes) == expected, sketch.key_id
        omitted = sketch.attributes["omitted"]
        assert omitted == "none" or not set(omitted.split("+")) & set(sketch.parts), "an omitted part is not drawn"
    counts = {name: Counter(s.attributes.get(name) for s in sample) for name in ATTRIBUTES}
    for name in ("rotation", "proportions", "wobble"):  # binned by thirds
        assert len(counts[name]) == 3 and min(counts[name].values()) > len(sample) / 5, counts[name]
    assert set(counts["facing"]) == {"left", "right", None} and set(counts["reversed"]) == {"none", "some"}
    assert set(counts["order"]) == {"template", "swapped", "shuffled"} and counts["omitted"]["none"] > len(sample) / 2


def _centre_x(sketch: Sketch, part: str) -> float:
    return float(np.concatenate([s[0] for s, p in zip(sketch.strokes, sketch.parts, strict=True) if p == part]).mean())


def test_the_attributes_say_what_the_drawing_shows(sample: list[Sketch]) -> None:
    """Facing: a cat's head is right of its body when it faces right. Rotation: a tree's crown leans the way it
    tilts. Proportions: wide drawings are wider than tall ones."""
    for cat in (s for s in sample if s.word == "cat"):
        right = _centre_x(cat, "head") > _centre_x(cat, "body")
        assert right == (cat.attributes["facing"] == "right"), cat.key_id
    turned = SketchGenerator(num_sketches=100, progress=False, **DEFAULT | dict(rotation=60.0, classes=["tree"]))
    tilts = Counter()
    for tree in turned:
        lean = _centre_x(tree, "crown") - _centre_x(tree, "trunk")
        tilt = tree.attributes["rotation"]
        tilts[tilt] += 1
        assert tilt == "upright" or (lean > 0) == (tilt == "right-tilt"), tree.key_id
    assert len(tilts) == 3

    def width_over_height(sketch: Sketch) -> float:
        xy = np.concatenate(sketch.strokes, axis=1)
        return float(np.ptp(xy[0]) / max(np.ptp(xy[1]), 1.0))

    shape = {value: np.mean([width_over_height(s) for s in sample if s.attributes["proportions"] == value])
             for value in ("tall", "even", "wide")}
    assert shape["tall"] < shape["even"] < shape["wide"], shape


def test_settings_without_variation_record_one_value() -> None:
    still = DEFAULT | dict(rotation=0.0, aspect=0.0, wobble=0.0, reverse_prob=0.0, omit_prob=0.0, shuffle_prob=0.0)
    sketches = SketchGenerator(num_sketches=60, progress=False, **still).load().sketches
    assert {(s.attributes["rotation"], s.attributes["proportions"], s.attributes["wobble"], s.attributes["reversed"],
             s.attributes["omitted"]) for s in sketches} == {("upright", "even", "none", "none", "none")}
    assert "shuffled" not in {s.attributes["order"] for s in sketches}
    everything = SketchGenerator(num_sketches=60, progress=False, **DEFAULT | dict(reverse_prob=1.0)).load().sketches
    assert {s.attributes["reversed"] for s in everything} == {"some"}


def test_a_partial_drawing_has_no_attributes(sample: list[Sketch]) -> None:
    assert sample[0].first_strokes(1).attributes is None


def test_ndjson_and_dataset_folder_round_trip(tmp_path: Path, sample: list[Sketch]) -> None:
    drawn = sample[:50]
    write_split(tmp_path, "val", drawn)
    back = read_split(tmp_path, "val")
    assert [s.attributes for s in back] == [s.attributes for s in drawn]
    values = attribute_values(drawn)
    assert values is not None and set(values) == set(ATTRIBUTES)
    assert values["facing"] == ["left", "right"] and values == {k: sorted(v) for k, v in values.items()}
    manifest = Manifest(name="generated", kind="strokes", classes=["cat"], parts=None, splits={"val": 50},
                        attributes=values)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path).attributes == values
    # Real drawings have none: nothing in the record, nothing in the manifest; an older manifest reads as none.
    plain = Sketch("real-1", "cat", drawn[0].strokes)
    assert "attributes" not in plain.to_ndjson_record() and attribute_values([plain]) is None
    document = json.loads((tmp_path / "manifest.json").read_text())
    del document["attributes"]
    (tmp_path / "manifest.json").write_text(json.dumps(document))
    assert read_manifest(tmp_path).attributes is None


@pytest.mark.parametrize(("attributes", "message"), [
    ('["left"]', "'attributes' must be an object"),
    ('{"facing": 3}', "'attributes' entry 'facing' must be a non-empty value name"),
    ('{"facing": "le\\u0000ft"}', "control character"),
])
def test_bad_attributes_name_the_line(tmp_path: Path, attributes: str, message: str) -> None:
    path = tmp_path / "bad.ndjson"
    good = '{"word": "cat", "key_id": "1", "drawing": [[[0, 10], [0, 10]]]}'
    bad = f'{{"word": "cat", "key_id": "2", "drawing": [[[0, 10], [0, 10]]], "attributes": {attributes}}}'
    path.write_text(good + "\n" + bad + "\n")
    with pytest.raises(InputError, match=message) as caught:
        read_ndjson(path)
    assert f"{path}:2" in str(caught.value)
    assert len(read_ndjson(path, on_error="skip").sketches) == 1


def test_nmi_and_precision_on_a_known_case() -> None:
    """Cluster 0 holds only left-facing positions, cluster 1 only right, cluster 2 half and half; cluster 3 is
    all left but too small to count; the positions of a drawing without the attribute are left out."""
    labels = np.repeat([0, 1, 2, 3], [40, 40, 40, MIN_CLUSTER - 1])
    codes = np.concatenate([np.full(40, 1), np.full(40, 2), np.tile([1, 2], 20), np.full(MIN_CLUSTER - 1, 1)])
    codes[:5] = 0  # unknown: not counted anywhere
    aligned = align(labels, codes, ["left", "right"], "facing")
    assert aligned is not None
    assert aligned.precision == 1.0 and aligned.cluster in (0, 1) and aligned.positions == len(codes) - 5
    left = np.mean(codes[codes > 0] == 1)
    assert aligned.base == pytest.approx(left if aligned.value == "left" else 1 - left)
    from sklearn.metrics import normalized_mutual_info_score

    known = codes > 0
    assert aligned.nmi == pytest.approx(normalized_mutual_info_score(codes[known], labels[known]))
    assert 0.3 < aligned.nmi < 1
    # Clusters unrelated to the value: NMI near 0 and precision near the base rate.
    rng = np.random.default_rng(0)
    random = align(rng.integers(0, 4, 4000), rng.integers(1, 3, 4000), ["left", "right"], "facing")
    assert random is not None and random.nmi < 0.01 and random.precision < 0.56
    # One value only: nothing to align.
    assert align(labels, np.ones_like(codes), ["left"], "facing") is None
    # A perfect split.
    perfect = align(np.repeat([0, 1], 30), np.repeat([1, 2], 30), ["left", "right"], "facing")
    assert perfect is not None and perfect.nmi == pytest.approx(1.0) and perfect.precision == 1.0


def test_positions_inherit_their_drawings_attributes() -> None:
    sketches = [Sketch("a", "cat", attributes={"facing": "left", "order": "template"}),
                Sketch("b", "cat", attributes={"facing": "right", "order": "template"}),
                Sketch("c", "face", attributes={"order": "shuffled"}), Sketch("real", "cat")]
    codes = attribute_codes(["a", "a", "b", "c", "real", "b"], sketches)
    assert codes["facing"][1] == ["left", "right"] and codes["facing"][0].tolist() == [1, 1, 2, 0, 0, 2]
    assert codes["order"][0].tolist() == [2, 2, 2, 1, 0, 2]
    # Two clusters of positions of many drawings each: cluster 0 all left, cluster 1 all right.
    many = [Sketch(f"{side}{i}", "cat", attributes={"facing": side, "order": "template"})
            for side in ("left", "right") for i in range(MIN_CLUSTER)]
    keys = [s.key_id for s in many for _ in range(3)]  # three positions a drawing
    labels = np.array([0 if key.startswith("left") else 1 for key in keys])
    alignments = attribute_alignment(labels, keys, many)
    assert [a.attribute for a in alignments] == ["facing"]  # order has one value among these positions
    assert attribute_metrics(alignments) == {"attribute_nmi_facing": 1.0, "attribute_precision_facing": 1.0}
    assert attribute_alignment(labels, keys, [Sketch(s.key_id, "cat") for s in many]) == []
    # As many positions, but each cluster's from too few drawings: its precision does not count.
    two_each = [("left" if key.startswith("left") else "right") + str(i % 2) for i, key in enumerate(keys)]
    few = attribute_alignment(labels, two_each, many)
    assert few[0].nmi == 1.0 and few[0].precision is None


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The tiny preset's generated data through the data stage, a briefly trained model, its activations and its
    atlas (tests/labeling_project.py: ``build``), and its params.yaml; returns the folder and the overrides."""
    from pipeline.config import write_params
    from tests import labeling_project as builder
    from tests.conftest import fixture_threads

    folder = tmp_path_factory.mktemp("attributes_project")
    data = ["data=generated_small", "data.source.num_sketches=400",
            f"data.source.classes=[{','.join(builder.CLASSES)}]"]
    with fixture_threads():
        settings = builder.build(folder, data=data)
    write_params(settings, folder / "params.yaml")
    return folder, settings


def test_the_atlas_stage_reports_attribute_metrics(tiny_project: tuple[Path, list[str]]) -> None:
    """The data stage's manifest lists the attributes; atlas.json and the MLflow run hold the attribute metrics."""
    import mlflow

    folder, settings = tiny_project
    manifest = read_manifest(folder / "dataset")
    assert manifest.attributes is not None and manifest.attributes["facing"] == ["left", "right"]
    document = json.loads((folder / "atlases" / "round_0" / "atlas.json").read_text())
    metrics = document["metrics"]
    for name in ("facing", "rotation", "proportions", "order"):
        assert 0.0 <= metrics[f"attribute_nmi_{name}"] <= 1.0
        assert 0.0 < metrics[f"attribute_precision_{name}"] <= 1.0
    mlflow.set_tracking_uri(next(s.split("=", 1)[1] for s in settings if s.startswith("mlflow.tracking_uri=")))
    runs = mlflow.search_runs(experiment_names=["labeling-tests"])
    atlas_run = runs[runs["tags.stage"] == "atlas"].reset_index()
    assert len(atlas_run) == 1
    assert atlas_run.loc[0, "metrics.attribute_nmi_facing"] == pytest.approx(metrics["attribute_nmi_facing"])


def test_bench_attaches_attributes_to_an_older_dataset(tiny_project: tuple[Path, list[str]], tmp_path: Path) -> None:
    """A dataset written without attributes: the benchmark generates its drawings again, finds them the same and
    measures every layer; a drawing that differs stops it with one line naming the drawing."""
    import shutil

    from tests.conftest import run_command
    from tests.test_bench_any_data import ROOT, bench

    folder, _ = tiny_project
    project = tmp_path / "project"
    shutil.copytree(folder, project, ignore=shutil.ignore_patterns("activations", "atlases", "checkpoints", "mlruns"))
    settings = (project / "params.yaml").read_text().replace(str(folder), str(project))
    (project / "params.yaml").write_text(settings)
    val = read_split(project / "dataset", "val")
    write_split(project / "dataset", "val", [Sketch(s.key_id, s.word, s.strokes, s.parts) for s in val])
    assert all(s.attributes is None for s in read_split(project / "dataset", "val"))
    out = tmp_path / "bench.json"
    printed = bench("bench_attributes", "--project", str(project), "--layers", "features.block2,features.block3",
                    "--json", str(out))
    assert f"{len(val)} drawings are the same when generated again" in printed
    result = json.loads(out.read_text())
    assert set(result["layers"]) == {"features.block2", "features.block3"}
    for levels in result["layers"].values():
        assert set(levels) == {"position", "drawing", "class"}
        found = {a["attribute"]: a for a in levels["drawing"]["found"]}
        assert {"facing", "rotation", "proportions"} <= set(found)
        assert all(0.0 <= a["nmi"] <= 1.0 for a in found.values())
    assert set(result["summary"]) >= {"facing", "rotation", "proportions"}
    assert set(result["probes"]) == {"features.block2", "features.block3"}
    assert all(0.0 <= ap <= 1.0 for found in result["probes"].values() for entry in found.values()
               for ap in entry["values"].values())

    changed = [*val]
    changed[3] = Sketch(val[3].key_id, val[3].word, (val[3].strokes[0][:, ::-1], *val[3].strokes[1:]), val[3].parts)
    write_split(project / "dataset", "val", [Sketch(s.key_id, s.word, s.strokes, s.parts) for s in changed])
    done = run_command([sys.executable, str(ROOT / "bench" / "bench_attributes.py"), "--project", str(project)],
                       ROOT, {**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"drawing {val[3].key_id} is not the one its data.source draws now" in done.stderr
