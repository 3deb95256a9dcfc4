"""Drawing-level concepts in the concept store: whole drawings as examples, through the file, the log and undo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import conceptstore.store_format as store_format
from conceptstore.store import CRASH_ENV, ConceptError, ConceptStore, StoreState
from core.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {"kind": "drawing", "attribute": "facing", "value": "left", "round": 0}


@pytest.fixture
def store(tmp_path: Path) -> ConceptStore:
    return ConceptStore(tmp_path / "concepts" / "concepts.yaml", actor="test")


def facing(store: ConceptStore, *drawings: str, **kwargs) -> None:
    store.promote("facing left", drawings or ["d1"], kwargs.pop("negatives", ()), layer="block3", born_round=0,
                  source=SOURCE, level="drawing", **kwargs)


def test_a_drawing_level_concept_round_trips_through_the_file_and_the_log(store: ConceptStore) -> None:
    store.promote("ear", [("p", 1, 2)], layer="block3", born_round=0, source={"kind": "cluster", "cluster": 1})
    facing(store, "d2", "d1", "d2", "it's", negatives=["d3", "d1"], verified=["d1"])

    concept = store.state().get("facing left")
    assert concept.level == "drawing" and store.state().get("ear").level == "position"
    assert concept.positives == ("d1", "d2", "it's")  # sorted, unique
    assert concept.negatives == ("d3",)  # a drawing in both lists is positive
    assert concept.verified == ("d1",)
    text = store.path.read_text()
    assert "  level: drawing\n  positives:\n  - 'd1'\n  - 'd2'\n  - 'it''s'\n" in text
    assert text.count("level:") == 1  # a position-level concept is written as before
    on_disk = yaml.safe_load(text)["concepts"]
    assert on_disk[1]["level"] == "drawing" and on_disk[1]["positives"] == ["d1", "d2", "it's"]
    assert "level" not in on_disk[0]
    # the fast reader reads it as the full parser does, and the log replays to it
    assert store_format.parse(text, store.path, lambda: 0) == store.state()
    fast = store_format._fast_data(text)["concepts"]  # the fast reader took these lines
    assert fast[1]["positives"] == ["d1", "d2", "it's"] and fast[1]["negatives"] == ["d3"]
    assert fast[0]["positives"] == [("p", 1, 2)]
    assert store.replay() == store.state()
    store.verify()
    assert store.events()[-1]["args"]["level"] == "drawing"


def test_adding_and_undoing_drawings_of_a_drawing_level_concept(store: ConceptStore) -> None:
    facing(store, "d1")
    store.add("facing left", ["d2"], ["d1"], unticked=1)
    assert store.state().get("c1").positives == ("d2",) and store.state().get("c1").negatives == ("d1",)

    store.undo()
    assert store.state().get("c1").positives == ("d1",) and store.state().get("c1").negatives == ()
    store.undo()
    assert store.state() == StoreState(version=4, next_id=2, concepts=())
    store.verify()
    assert store.human_actions() == 0  # both undone


def test_a_drawing_level_concept_takes_drawings_and_says_which_field_is_wrong(store: ConceptStore) -> None:
    with pytest.raises(ConceptError, match=r"^level: expected position or drawing, got 'stroke'"):
        store.promote("x", ["d1"], layer="block3", born_round=0, source=SOURCE, level="stroke")
    with pytest.raises(ConceptError, match=r"^positives\[1\]: the key_id \['d2', 0, 0\] must be text"):
        facing(store, "d1", ["d2", 0, 0])
    facing(store, "d1")
    with pytest.raises(ConceptError, match=r"^negatives\[0\]: the key_id 3 must be text"):
        store.add("facing left", [], [3])
    with pytest.raises(ConceptError, match=r"^positives\[0\]: expected a position \[key_id, y, x\], got 'd2'"):
        store.promote("ear", ["d2"], layer="block3", born_round=0, source=SOURCE)
    store.promote("ear", [("p", 0, 0)], layer="block3", born_round=0, source=SOURCE)
    with pytest.raises(ConceptError, match="cannot merge a position-level concept with a drawing-level one"):
        store.merge(["ear", "facing left"])
    with pytest.raises(ConceptError, match="position-level"):
        store.move("facing left", "ear", ["d1"])
    assert store.state().version == 2 and len(store.events()) == 2  # nothing written by a refused request


def test_splitting_and_merging_drawing_level_concepts_keep_the_level(store: ConceptStore) -> None:
    facing(store, "d1", "d2", "d3")
    store.split("facing left", [("facing left, small", ["d3"])])
    state = store.state()
    assert [(c.name, c.level, c.positives) for c in state.concepts] == [
        ("facing left", "drawing", ("d1", "d2")), ("facing left, small", "drawing", ("d3",))]
    store.merge(["c1", "c2"])
    assert store.state().get("c1").positives == ("d1", "d2", "d3") and store.state().get("c1").level == "drawing"
    store.verify()


def test_an_older_store_reads_unchanged_and_a_hand_written_level_is_checked(store: ConceptStore) -> None:
    store.promote("ear", [("p", 1, 2)], layer="block3", born_round=0, source={"kind": "manual"})
    before = store.path.read_text()
    assert "level" not in before  # a store of position-level concepts is written as it always was
    assert store.state().get("ear").level == "position"

    store.path.write_text(before.replace("  layer: block3\n", "  layer: block3\n  level: sketchy\n"))
    with pytest.raises(InputError) as err:
        store.state()
    assert "concept 1 (c1): level: expected position or drawing, got 'sketchy'" in str(err.value)
    entry_line = before.splitlines().index("- id: c1") + 1
    assert f"concepts.yaml:{entry_line}: " in str(err.value)  # the concept's line


def test_a_crash_while_promoting_a_drawing_level_concept_is_recovered(store: ConceptStore) -> None:
    store.promote("ear", [("p", 1, 2)], layer="block3", born_round=0, source={"kind": "manual"})
    before = store.state()
    code = (f"from conceptstore.store import ConceptStore; ConceptStore({str(store.path)!r}).promote('facing left', "
            "['d1'], layer='block3', born_round=0, source={'kind': 'drawing'}, level='drawing')")
    env = {**os.environ, CRASH_ENV: "after-log", "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 70
    assert store.state() == before  # the rename had not happened: readers still see the old file

    recovered = store.recover()
    assert recovered.get("facing left").level == "drawing" and recovered.get("facing left").positives == ("d1",)
    store.verify()
