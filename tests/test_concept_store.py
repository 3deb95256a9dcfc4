"""The concept store: operations, names, the event log, replay, conflicts, hand edits, parallel writers, crashes."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import filelock
import pytest
import yaml

import conceptstore.store_format as store_format
from conceptstore.store import (
    CRASH_ENV,
    CRASH_POINTS,
    Change,
    ConceptError,
    ConceptStore,
    ConflictError,
    StoreBusyError,
    StoreState,
    UnknownConceptError,
    validate_name,
)
from core.errors import ArticulateError, InputError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {"kind": "cluster", "cluster": 12, "atlas": "atlases/round_0", "round": 0}


@pytest.fixture
def store(tmp_path: Path) -> ConceptStore:
    return ConceptStore(tmp_path / "concepts" / "concepts.yaml", actor="test")


def promote(store: ConceptStore, name: str, *positives: tuple[str, int, int], **kwargs: Any) -> Change:
    """Promote on layer3 in round 0 from cluster 12, unless told otherwise."""
    kwargs = {"layer": "layer3", "born_round": 0, "source": SOURCE, **kwargs}
    return store.promote(name, positives or [("k1", 0, 0)], **kwargs)


def names(store: ConceptStore) -> list[str]:
    return [c.name for c in store.state().concepts]


def log_lines(store: ConceptStore) -> list[dict[str, Any]]:
    """The log parsed strictly: every line, the last included, must be a complete JSON object."""
    raw = store.log_path.read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.split(b"\n")[:-1]]


def run_ops(store: ConceptStore) -> list[StoreState]:
    """A mix of every operation; returns the state after each one (index = version)."""
    states = [store.state()]

    def step(change: Change) -> None:
        assert change.version == len(states)
        states.append(store.state())

    step(promote(store, "ear", ("a", 1, 1), ("a", 1, 2), ("b", 0, 0)))
    step(promote(store, "wheel", ("c", 2, 2), negatives=[("a", 1, 1)]))
    step(store.add("ear", [("d", 3, 3)], [("b", 0, 0)], unticked=1))
    step(store.rename("c2", "Wheel"))
    step(store.set_notes("ear", "round,\nfloppy"))
    step(promote(store, "tail", ("e", 0, 1)))
    step(store.merge(["ear", "tail"], "ear or tail"))
    step(store.split("c1", [("tip", [("e", 0, 1)])]))
    step(store.delete("Wheel"))
    step(store.undo())
    step(store.undo())
    step(promote(store, "eye", ("f", 4, 4)))
    return states


# --- operations -------------------------------------------------------------------------------------------


def test_a_new_store_is_empty_and_created_by_the_first_write(store: ConceptStore) -> None:
    assert store.state() == StoreState(version=0, next_id=1, concepts=())
    assert store.events() == []
    assert not store.path.parent.exists()

    promote(store, "ear")

    assert store.path.is_file() and store.log_path.is_file()
    assert store.log_path.name == "concepts.events.jsonl"
    assert not store.pending_path.exists()


def test_promote_records_the_concept_in_the_state_the_file_and_the_log(store: ConceptStore) -> None:
    change = store.promote(
        "ear", [("b", 1, 2), ("a", 3, 4), ("b", 1, 2)], [("z", 0, 0), ("a", 3, 4)],
        layer="layer3", born_round=2, source=SOURCE, notes="floppy", unticked=3,
    )

    concept = store.state().get("c1")
    assert (change.version, change.op, change.concept_ids) == (1, "promote", ("c1",))
    assert concept.name == "ear" and concept.born_round == 2 and concept.layer == "layer3"
    assert concept.positives == (("a", 3, 4), ("b", 1, 2))  # sorted, unique
    assert concept.negatives == (("z", 0, 0),)  # a position in both lists is positive
    assert concept.source == SOURCE and concept.notes == "floppy"
    assert store.state().next_id == 2

    on_disk = yaml.safe_load(store.path.read_text())
    assert on_disk["version"] == 1 and on_disk["next_id"] == 2 and on_disk["format_version"] == 1
    assert on_disk["concepts"] == [concept.to_dict()]
    (event,) = log_lines(store)
    assert event == change.event
    assert event["op"] == "promote" and event["actor"] == "test" and event["unticked"] == 3 and event["round"] == 2
    assert event["args"] == concept.to_dict()  # fully resolved: the id, the sorted positions, everything
    assert event["hash"] == store.state().content_hash()
    assert event["time"].endswith("Z")


def test_verified_positives_follow_every_operation_and_survive_the_file_and_the_log(store: ConceptStore) -> None:
    """The exemplars a person kept (verified) stay a subset of the positives through add, merge and split."""
    promote(store, "ear", ("a", 0, 0), ("a", 0, 1), ("a", 0, 2), verified=[("a", 0, 0), ("zz", 9, 9)])
    assert store.state().get("ear").verified == (("a", 0, 0),), "a verified position that is no positive is dropped"
    store.add("ear", [("b", 1, 1), ("b", 1, 2)], [("a", 0, 0)], verified=[("b", 1, 1)], unticked=1)
    ear = store.state().get("ear")
    assert ear.verified == (("b", 1, 1),), "an unticked position is no longer verified"
    promote(store, "lobe", ("c", 0, 0), verified=[("c", 0, 0)])
    store.merge(["ear", "lobe"])
    assert set(store.state().get("ear").verified) == {("b", 1, 1), ("c", 0, 0)}
    store.split("ear", [("left", [("b", 1, 1), ("a", 0, 1)])])
    state = store.state()
    assert state.get("left").verified == (("b", 1, 1),) and state.get("ear").verified == (("c", 0, 0),)
    assert "verified:" in store.path.read_text()
    store.verify()  # the file is the replay of the log
    assert ConceptStore(store.path).state().get("left").verified == (("b", 1, 1),)


def test_a_concept_without_verified_positions_writes_no_verified_key(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    assert "verified" not in store.path.read_text(), "files from before verified positions read the same"


def test_promote_with_another_actor_and_ids_count_up(store: ConceptStore) -> None:
    promote(store, "ear")
    change = promote(store, "eye", actor="web")
    assert change.concept_ids == ("c2",)
    assert [e["actor"] for e in store.events()] == ["test", "web"]


@pytest.mark.parametrize(
    ("positives", "negatives", "source", "message"),
    [
        ([], [], SOURCE, "at least one positive"),
        ([("a", 1)], [], SOURCE, "expected a position"),
        ([(1234, 1, 2)], [], SOURCE, "must be text"),
        ([("a", -1, 2)], [], SOURCE, "whole numbers >= 0"),
        ([("a", True, 2)], [], SOURCE, "whole numbers >= 0"),
        ([("", 1, 2)], [], SOURCE, "key_id"),
        ("a12", [], SOURCE, "list of positions"),
        ([("a", 1, 2)], [("b", 1.5, 2)], SOURCE, "whole numbers >= 0"),
        ([("a", 1, 2)], [], {"kind": "magic"}, "kind must be one of"),
        ([("a", 1, 2)], [], {"kind": "lasso", "when": object()}, "source.when"),
    ],
)
def test_promote_refuses_bad_input_and_writes_nothing(
    store: ConceptStore, positives: Any, negatives: Any, source: Any, message: str
) -> None:
    with pytest.raises(ConceptError, match=message):
        store.promote("ear", positives, negatives, layer="layer3", born_round=0, source=source)
    assert store.state().version == 0 and store.events() == []


def test_add_unions_and_an_untick_moves_a_position_to_the_negatives(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0), ("a", 0, 1), negatives=[("n", 0, 0)])

    change = store.add("EAR", [("b", 1, 1), ("n", 0, 0)], [("a", 0, 1), ("c", 2, 2)], unticked=2,
                       source={"kind": "cell", "cell": [3, 4], "round": 1})

    ear = store.state().get("ear")
    assert ear.positives == (("a", 0, 0), ("b", 1, 1), ("n", 0, 0))  # n was negative: ticked now, positive
    assert ear.negatives == (("a", 0, 1), ("c", 2, 2))  # a,0,1 was positive: unticked now, negative
    assert change.concept_ids == ("c1",)
    event = store.events()[-1]
    assert event["args"] == {"id": "c1", "positives": [["b", 1, 1], ["n", 0, 0]],
                             "negatives": [["a", 0, 1], ["c", 2, 2]],
                             "source": {"kind": "cell", "cell": [3, 4], "round": 1}}
    assert event["round"] == 1 and event["unticked"] == 2
    assert ear.source == SOURCE  # the concept keeps the source it was born from

    store.add("ear", [("x", 0, 0)], [("x", 0, 0)])  # in both lists of one call: positive
    assert ("x", 0, 0) in store.state().get("ear").positives
    assert ("x", 0, 0) not in store.state().get("ear").negatives


def test_add_refuses_unknown_concepts_empty_adds_and_removing_every_positive(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    with pytest.raises(UnknownConceptError, match=r"'nose'.*'ear' \(c1\)"):
        store.add("nose", [("b", 0, 0)])
    with pytest.raises(ConceptError, match="nothing to add"):
        store.add("ear", [])
    with pytest.raises(ConceptError, match="no positive example"):
        store.add("ear", [], [("a", 0, 0)])
    assert store.state().version == 1


def test_rename_and_set_notes(store: ConceptStore) -> None:
    promote(store, "ear")
    promote(store, "eye")

    change = store.rename("ear", "  Ear <b>lobe</b> ")
    assert change.event["args"] == {"id": "c1", "name": "Ear <b>lobe</b>", "old_name": "ear"}
    assert store.state().get("c1").name == "Ear <b>lobe</b>"  # stripped, markup verbatim
    store.rename("c1", "EAR <B>LOBE</B>")  # its own name in another case is no clash
    with pytest.raises(ConceptError, match="already a concept named 'eye'"):
        store.rename("c1", "EYE")
    with pytest.raises(UnknownConceptError):
        store.rename("c9", "nose")

    store.set_notes("eye", "  round\r\nand dark\n")
    assert store.state().get("eye").notes == "round\nand dark"
    assert "  notes: |-\n    round\n    and dark\n" in store.path.read_text()  # readable block text
    with pytest.raises(ConceptError, match="control"):
        store.set_notes("eye", "bell\x07")
    assert store.state().version == 5


def test_merge_keeps_the_first_concept(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0), negatives=[("n", 0, 0), ("m", 0, 0)], notes="left")
    promote(store, "eye", ("b", 0, 0))
    promote(store, "tail", ("n", 0, 0), ("c", 0, 0), negatives=[("o", 0, 0)], notes="right")

    change = store.merge(["tail", "c1"])

    state = store.state()
    assert [c.id for c in state.concepts] == ["c2", "c3"]  # c1 merged away; c3 keeps its place
    merged = state.get("c3")
    assert merged.name == "tail"
    assert merged.positives == (("a", 0, 0), ("c", 0, 0), ("n", 0, 0))
    assert merged.negatives == (("m", 0, 0), ("o", 0, 0))  # n is positive in the union
    assert merged.source == {"kind": "merge", "from": ["c3", "c1"]}
    assert merged.notes == "right\n\nleft"
    assert change.concept_ids == ("c3", "c1") and change.event["args"] == {"ids": ["c3", "c1"], "name": "tail"}


def test_merge_with_a_name_and_its_errors(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    promote(store, "eye", ("b", 0, 0))
    promote(store, "nose", ("c", 0, 0))
    promote(store, "gill", ("d", 0, 0), layer="layer2")

    with pytest.raises(ConceptError, match="already a concept named 'nose'"):
        store.merge(["ear", "eye"], "Nose")
    with pytest.raises(ConceptError, match="at least two different"):
        store.merge(["ear", "c1"])
    with pytest.raises(ConceptError, match="list of concepts"):
        store.merge("ear")
    with pytest.raises(ConceptError, match="different layers"):
        store.merge(["ear", "gill"])
    with pytest.raises(UnknownConceptError):
        store.merge(["ear", "mouth"])
    assert store.state().version == 4

    store.merge(["ear", "eye"], "EYE")  # the name of a merged concept is free
    assert names(store) == ["EYE", "nose", "gill"]


def test_split_makes_new_concepts_and_removes_an_emptied_original(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0), ("b", 0, 0), ("c", 0, 0), negatives=[("n", 0, 0)], born_round=1,
            notes="x")
    promote(store, "eye", ("e", 0, 0))

    change = store.split("ear", [("ear tip", [("a", 0, 0)])])
    state = store.state()
    assert change.concept_ids == ("c1", "c3")
    assert state.get("ear").positives == (("b", 0, 0), ("c", 0, 0))
    assert state.get("ear").negatives == (("n", 0, 0),)  # negatives stay with the original
    tip = state.get("ear tip")
    assert (tip.id, tip.born_round, tip.layer, tip.positives, tip.negatives, tip.notes) == (
        "c3", 1, "layer3", (("a", 0, 0),), (), ""
    )
    assert tip.source == {"kind": "split", "from": "c1"}

    change = store.split("c1", [("EAR", [("b", 0, 0)]), ("base", [("c", 0, 0)])])
    assert [c.id for c in store.state().concepts] == ["c2", "c3", "c4", "c5"]  # nothing left: c1 is gone
    assert store.state().get("ear").id == "c4"  # its name is free again
    assert change.event["args"] == {"id": "c1", "groups": [
        {"id": "c4", "name": "EAR", "positives": [["b", 0, 0]]},
        {"id": "c5", "name": "base", "positives": [["c", 0, 0]]},
    ]}


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([], "into what"),
        ([("tip", [])], "at least one position"),
        ([("tip", [("z", 0, 0)])], "not a positive example"),
        ([("tip", [("a", 0, 0)]), ("base", [("a", 0, 0), ("b", 0, 0)])], "already in another group"),
        ([("tip", [("a", 0, 0)]), ("TIP", [("b", 0, 0)])], "already a concept named 'tip'"),
        ([("eye", [("a", 0, 0)])], "already a concept named 'eye'"),
        ([("ear", [("a", 0, 0)])], "already a concept named 'ear'"),  # the original stays, with b
        ([("", [("a", 0, 0)])], "needs a name"),
        (["tip"], "expected \\(name, positions\\)"),
    ],
)
def test_split_errors_write_nothing(store: ConceptStore, groups: Any, message: str) -> None:
    promote(store, "ear", ("a", 0, 0), ("b", 0, 0))
    promote(store, "eye", ("e", 0, 0))
    with pytest.raises(ConceptError, match=message):
        store.split("ear", groups)
    assert store.state().version == 2 and len(store.events()) == 2


def test_delete_never_reuses_the_id(store: ConceptStore) -> None:
    promote(store, "ear")
    promote(store, "eye")
    change = store.delete("eye")
    assert change.concept_ids == ("c2",) and change.event["args"] == {"id": "c2", "name": "eye"}
    assert names(store) == ["ear"]
    assert promote(store, "nose").concept_ids == ("c3",)
    with pytest.raises(UnknownConceptError):
        store.delete("eye")


def test_undo_walks_back_one_action_at_a_time(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    v1 = store.state()
    store.rename("ear", "lobe")
    v2 = store.state()
    store.add("lobe", [("b", 0, 0)])
    v3 = store.state()
    promote(store, "eye")

    first = store.undo()
    assert first.concept_ids == ("c2",) and first.event["args"] == {"undoes": 4, "next_round": 1}
    assert store.state().concepts == v3.concepts
    assert store.state().next_id == 3  # the undone promote's id is not handed out again
    store.undo()
    assert store.state().concepts == v2.concepts
    assert store.undo().event["args"] == {"undoes": 2, "next_round": 1}  # undo after rename restores the old name
    assert names(store) == ["ear"] and store.state().concepts == v1.concepts
    store.undo()
    assert store.state().concepts == ()
    with pytest.raises(ConceptError, match="^nothing to undo$"):
        store.undo()

    assert promote(store, "nose").concept_ids == ("c3",)
    assert store.undo().event["args"] == {"undoes": 9, "next_round": 0}
    with pytest.raises(ConceptError, match="nothing to undo"):
        store.undo()
    assert [e["version"] for e in store.events()] == list(range(1, 11))
    store.verify()


# --- names ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "existing", "message"),
    [
        ("", (), "needs a name"),
        ("   \t ", (), "needs a name"),
        ("x" * 81, (), "81 characters.*at most 80"),
        ("ear\nlobe", (), "U\\+000A"),
        ("ear\x00", (), "U\\+0000"),
        ("ear\x7f", (), "U\\+007F"),
        ("e\x85ar", (), "U\\+0085"),
        ("EAR", ("eye", "ear"), "already a concept named 'ear'"),
        ("Straße", ("STRASSE",), "already a concept named 'STRASSE'"),
        ("c12", (), "kept for concept ids"),
        (12, (), "must be text"),
    ],
)
def test_validate_name_refuses(name: Any, existing: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConceptError, match=message):
        validate_name(name, existing)


@pytest.mark.parametrize(
    ("name", "expected"),
    [(" ear ", "ear"), ("x" * 80, "x" * 80), ("<b>ear</b>", "<b>ear</b>"), ("c12 curve", "c12 curve"), ("耳", "耳")],
)
def test_validate_name_accepts(name: str, expected: str) -> None:
    assert validate_name(name, ("eye", "ears")) == expected


def test_awkward_names_and_key_ids_survive_the_yaml_file(store: ConceptStore) -> None:
    awkward = ["yes", "123", "<b>ear</b>", "a: b", '"quoted"', "oreille", "耳", "null", "- dash", "#hash",
               "it's", "1e3", "~", "[list]", "{map}", "x\u00a0y"]
    keys = ["1234", "yes", "null", "0x1F", "it's", "2026-01-01", "a b", "é"]
    for i, name in enumerate(awkward):
        promote(store, name, (keys[i % len(keys)], i, 0), notes="line\nnext" if i % 2 else name)

    text = store.path.read_text(encoding="utf-8")
    assert "- ['1234', 0, 0]" in text and "- ['yes', 1, 0]" in text and "耳" in text
    state = ConceptStore(store.path).state()
    assert [c.name for c in state.concepts] == awkward
    assert state == store.replay()
    raw = yaml.safe_load(text)
    assert all(isinstance(p[0], str) for c in raw["concepts"] for p in c["positives"])
    store.verify()


def test_sources_and_notes_that_need_yaml_escapes_survive_the_file(store: ConceptStore) -> None:
    lasso = {"kind": "lasso", "polygon": [[0.5, 1e-05], [2, 1e17]], "atlas": "yes", "note": "a, b: c",
             "flags": {"on": True, "none": None}, "x\u00a0y": "\u00a0", "t": "tab\there"}
    promote(store, "ear", ("k\u00a0k", 0, 0), source=lasso, notes="tab\there\nand a\u2028line\n\n  indented")
    promote(store, "eye", notes=" x" * 60)
    state = ConceptStore(store.path).state()
    assert state.get("ear").source == lasso
    assert state.get("ear").notes == "tab\there\nand a\u2028line\n\n  indented"
    assert state.get("ear").positives == (("k\u00a0k", 0, 0),)
    assert state == store.replay()
    assert yaml.safe_load(store.path.read_text())["concepts"][0]["source"] == lasso


def test_the_store_reads_its_own_files_without_the_full_yaml_parser(
    store: ConceptStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ops(store)
    promote(store, "a: b", ("it's", 1, 2), source={"kind": "lasso", "polygon": [[0.5, 2], [3, 4]]}, notes="x\ny")

    def full_parser(*args: Any) -> NoReturn:
        raise AssertionError("the fast reader did not recognise the store's own layout")

    monkeypatch.setattr(store_format, "_node_lines", full_parser)
    assert ConceptStore(store.path).state() == store.replay()


def test_a_hand_edit_in_another_yaml_layout_is_read_in_full(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    store.path.write_text(
        "format_version: 1\nversion: 1\nnext_id: 2\nconcepts:\n"
        "- name: ear\n  id: c1\n  born_round: 0\n  layer: layer3\n"
        "  source:\n    kind: cluster\n    cluster: 12\n    atlas: atlases/round_0\n    round: 0\n"
        "  notes: ''\n  positives:\n  - - a\n    - 0\n    - 0\n  - [b, 1, 1]\n  negatives: []\n"
    )
    assert store.state().get("ear").positives == (("a", 0, 0), ("b", 1, 1))
    store.rename("ear", "lobe")
    assert [e["op"] for e in store.events()] == ["promote", "external_edit", "rename"]
    assert "  - ['b', 1, 1]\n" in store.path.read_text()  # written back in the store's own layout
    store.verify()


# --- replay, verify, determinism --------------------------------------------------------------------------


def test_replay_upto_reproduces_every_historical_state(store: ConceptStore) -> None:
    states = run_ops(store)
    for version, state in enumerate(states):
        assert store.replay(version) == state, version
    assert store.replay() == states[-1] == store.state()
    with pytest.raises(ConceptError, match="versions 0 to 12"):
        store.replay(13)
    store.verify()


def test_the_yaml_file_is_deterministic(tmp_path: Path) -> None:
    first = ConceptStore(tmp_path / "one" / "concepts.yaml")
    second = ConceptStore(tmp_path / "two" / "concepts.yaml", actor="other")
    run_ops(first)
    run_ops(second)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.read_text().startswith("# Articulate concept store")


def test_verify_reports_a_file_that_differs_from_the_log(store: ConceptStore) -> None:
    run_ops(store)
    store.path.write_text(store.path.read_text().replace("name: eye", "name: iris"))
    with pytest.raises(InputError, match=r"concepts.yaml: does not match .*different: c5"):
        store.verify()


def test_verify_checks_each_event_hash(store: ConceptStore) -> None:
    run_ops(store)
    lines = store.log_path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('["d",3,3]', '["d",3,4]')
    store.log_path.write_text("".join(lines))
    with pytest.raises(InputError, match="event 3 \\(add\\) does not replay to its hash") as caught:
        store.verify()
    assert caught.value.line == 3


# --- conflicts --------------------------------------------------------------------------------------------


def test_a_stale_expected_version_conflicts_and_changes_nothing(store: ConceptStore) -> None:
    promote(store, "ear")
    seen = store.state().version
    store.rename("ear", "lobe", expected_version=seen)  # current: fine
    before = (store.path.read_bytes(), store.log_path.read_bytes())

    with pytest.raises(ConflictError, match="it is at version 2, you had 1; reload and try again") as caught:
        store.rename("lobe", "tip", expected_version=seen)
    assert (caught.value.current_version, caught.value.expected_version) == (2, 1)
    assert isinstance(caught.value, ConceptError) and isinstance(caught.value, ArticulateError)
    for write in (
        lambda: promote(store, "eye", expected_version=0),
        lambda: store.add("lobe", [("z", 0, 0)], expected_version=5),
        lambda: store.undo(expected_version=1),
    ):
        with pytest.raises(ConflictError):
            write()
    assert (store.path.read_bytes(), store.log_path.read_bytes()) == before


def test_a_held_lock_times_out_with_a_clear_error(tmp_path: Path) -> None:
    store = ConceptStore(tmp_path / "concepts.yaml", lock_timeout=0.1)
    with filelock.FileLock(store.lock_path):
        with pytest.raises(StoreBusyError, match="another writer"):
            promote(store, "ear")
    assert promote(store, "ear").version == 1


# --- hand edits -------------------------------------------------------------------------------------------


def test_a_hand_edit_is_recorded_before_the_next_write_and_undo_stops_there(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    promote(store, "eye", ("b", 0, 0))
    text = store.path.read_text()
    store.path.write_text(text.replace("name: eye", "name: iris").replace("- ['b', 0, 0]", "- ['b', 0, 1]"))
    edited = store.state()
    assert edited.get("iris").positives == (("b", 0, 1),) and edited.version == 2

    change = store.set_notes("ear", "hand-checked")

    events = store.events()
    assert [e["op"] for e in events] == ["promote", "promote", "external_edit", "set_notes"]
    assert events[2]["args"]["state"]["concepts"] == [c.to_dict() for c in edited.concepts]
    assert change.version == 4 and store.state().get("c2").name == "iris"
    assert store.replay() == store.state()
    store.verify()
    store.undo()
    assert store.state().get("ear").notes == "" and store.state().get("c2").name == "iris"
    with pytest.raises(ConceptError, match="edited by hand at version 3"):
        store.undo()


def test_restoring_an_older_copy_is_an_external_edit_and_ids_are_not_reused(store: ConceptStore) -> None:
    promote(store, "ear")
    old = store.path.read_bytes()
    promote(store, "eye")
    promote(store, "nose")
    store.path.write_bytes(old)  # git checkout of an older version

    assert store.recover().version == 4
    assert [e["op"] for e in store.events()][-1] == "external_edit"
    assert names(store) == ["ear"] and store.state().next_id == 4
    assert promote(store, "mouth").concept_ids == ("c4",)
    store.verify()


def test_a_hand_written_store_without_a_log_is_adopted(store: ConceptStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(
        "format_version: 1\nversion: 0\nnext_id: 1\nconcepts:\n"
        "- {id: c7, name: ear, born_round: 0, layer: l, source: {kind: manual}, notes: '',\n"
        "   positives: [['a', 0, 0]], negatives: []}\n"
    )
    assert store.state().next_id == 8  # never hand out c7 again
    assert promote(store, "eye").concept_ids == ("c8",)
    assert [e["op"] for e in store.events()] == ["external_edit", "promote"]
    store.verify()


def test_rebuild_discards_a_hand_edit_and_a_missing_file_is_replayed(store: ConceptStore) -> None:
    run_ops(store)
    logged = store.state()
    store.path.write_text(store.path.read_text().replace("name: eye", "name: iris"))
    assert store.rebuild() == logged == store.state()
    store.path.write_text("concepts: [\n")  # damaged beyond reading
    assert store.rebuild() == logged == store.state()
    store.path.unlink()
    assert store.state() == logged  # the log is the record
    promote(store, "nose")
    assert len(store.events()) == logged.version + 1
    store.verify()


def test_a_log_and_file_replaced_under_a_store_object_are_read_afresh(tmp_path: Path) -> None:
    store = ConceptStore(tmp_path / "a" / "concepts.yaml")
    other = ConceptStore(tmp_path / "b" / "concepts.yaml")
    run_ops(store)
    old_file, old_log = store.path.read_bytes(), store.log_path.read_bytes()
    promote(store, "nose")
    store.log_path.write_bytes(old_log)  # git checkout of both files: shorter than what the object has read
    store.path.write_bytes(old_file)
    assert promote(store, "mouth").version == 13
    for i in range(20):
        promote(other, f"n{i}")
    shutil.copy(other.log_path, store.log_path)  # another history, longer
    shutil.copy(other.path, store.path)
    assert promote(store, "lip").version == 21
    store.verify()


# --- corrupt files ----------------------------------------------------------------------------------------


def test_corrupt_yaml_names_the_file_and_line(store: ConceptStore) -> None:
    promote(store, "ear")
    lines = store.path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "name: ear" in line)
    lines[at] = "  name: [ear"
    store.path.write_text("\n".join(lines) + "\n")
    for read in (store.state, lambda: promote(store, "eye")):
        with pytest.raises(InputError, match="concepts.yaml:\\d+: is not valid YAML.*git checkout") as caught:
            read()
        assert caught.value.path == str(store.path) and caught.value.line is not None
        assert abs(caught.value.line - (at + 1)) <= 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("next_id: 2", "next_id: 2\nextra: 1"), "unknown key 'extra' at the top level"),
        (("format_version: 1\n", ""), "missing key 'format_version'"),
        (("\nversion: 1", "\nversion: one"), "version must be a whole number"),
        (("  layer: layer3\n", ""), "concept 1 \\(c1\\): missing key 'layer'"),
        (("  notes: ''", "  notes: ''\n  colour: red"), "concept 1 \\(c1\\): unknown key 'colour'"),
        (("['k1', 0, 0]", "[1234, 0, 0]"), "concept 1 \\(c1\\): positives\\[0\\].*must be text"),
        (("born_round: 0", "born_round: zero"), "concept 1 \\(c1\\): born_round"),
        (("id: c1", "id: one"), "concept ids look like c1"),
        (("source: {kind", "source: {when: 2026-01-01, kind"), "source.when"),
    ],
)
def test_a_malformed_store_file_names_the_key_and_concept(
    store: ConceptStore, edit: tuple[str, str], message: str
) -> None:
    promote(store, "ear")
    text = store.path.read_text()
    assert edit[0] in text
    store.path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(InputError, match=message) as caught:
        store.state()
    assert caught.value.path == str(store.path)


def test_duplicate_ids_and_names_in_the_file_are_refused(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    promote(store, "eye", ("b", 0, 0))
    text = store.path.read_text()
    store.path.write_text(text.replace("name: eye", "name: EAR"))
    with pytest.raises(InputError, match="concept 2 \\(c2\\): there is already a concept named 'ear'") as caught:
        store.state()
    assert caught.value.line == text.splitlines().index("- id: c2") + 1
    store.path.write_text(text.replace("id: c2", "id: c1"))
    with pytest.raises(InputError, match="c1 is used twice"):
        store.state()


def test_a_garbled_middle_log_line_names_the_log_and_line(store: ConceptStore) -> None:
    run_ops(store)
    lines = store.log_path.read_text().splitlines(keepends=True)
    lines[4] = lines[4][:30] + "\n"
    store.log_path.write_text("".join(lines))
    for read in (store.events, store.replay, lambda: promote(store, "nose")):
        with pytest.raises(InputError, match="concepts.events.jsonl:5: is not a valid event") as caught:
            read()
        assert caught.value.line == 5


def test_a_torn_last_log_line_is_ignored_and_cut_by_the_next_write(store: ConceptStore) -> None:
    run_ops(store)
    with store.log_path.open("ab") as log:
        log.write(b'{"version": 13, "time": "2026-11-')
    assert len(store.events()) == 12 and store.replay() == store.state()
    promote(store, "nose")
    assert [e["version"] for e in log_lines(store)] == list(range(1, 14))
    store.verify()


def test_human_actions_count_labeling_and_unticks_per_round(store: ConceptStore) -> None:
    promote(store, "ear", unticked=3)  # round 0
    store.add("ear", [("b", 0, 0)], unticked=2, source={"kind": "cluster", "cluster": 1, "round": 1})
    store.rename("ear", "lobe")  # the session's round: 1
    store.set_notes("lobe", "x", round=2)
    store.path.write_text(store.path.read_text().replace("name: lobe", "name: tip"))
    store.rename("tip", "end")  # recorded after an external edit, which is not counted

    assert store.events()[-2]["op"] == "external_edit"
    assert store.human_actions() == 4 + 3
    assert (store.human_actions(0), store.human_actions(1), store.human_actions(2)) == (4, 3, 0)
    assert store.human_edits() == 3
    assert (store.human_edits(0), store.human_edits(1), store.human_edits(2)) == (0, 1, 2)


def test_edits_are_counted_apart_and_undone_actions_not_at_all(store: ConceptStore) -> None:
    run_ops(store)  # promote, promote, add, rename, notes, promote, merge, split, delete, undo, undo, promote
    # The undos took back the delete and the split: left are 4 promotes, an add with 1 untick, and the edits.
    assert store.human_actions() == 4 + 2
    assert store.human_edits() == 3 + 2  # rename, notes, merge; the two undos


def test_probing_is_not_labeling(store: ConceptStore) -> None:
    """A session of a rename and its undo, and a probe promoted then deleted: one labeling action, two edits."""
    promote(store, "ear", unticked=1)
    store.rename("ear", "lobe", round=1)
    store.undo()  # of the rename: the rename no longer counts, the undo is an edit
    store.delete(promote(store, "probe", ("z", 0, 0), born_round=1, source={"kind": "lasso", "round": 1})
                 .concept_ids[0])
    assert (store.human_actions(0), store.human_actions(1), store.human_edits(1)) == (2, 1, 2)  # undo, delete
    store.undo()  # the delete
    store.undo()  # the probe's promote
    assert (store.human_actions(0), store.human_actions(1), store.human_edits(1)) == (2, 0, 3)  # three undos


def test_every_event_changes_the_file_so_dvc_needs_only_the_file(store: ConceptStore) -> None:
    """dvc.yaml's stages depend on concepts.yaml, not on its event log: every event must change the file."""
    import yaml

    seen: list[bytes] = []

    recording = ConceptStore(store.path, actor="test")
    append = recording._writer._append  # the log append of every write

    def record(event: dict[str, Any]) -> None:  # each event, and the file as it was before it
        seen.append(recording.path.read_bytes() if recording.path.exists() else b"")
        append(event)

    recording._writer._append = record  # type: ignore[method-assign]
    run_ops(recording)
    seen.append(recording.path.read_bytes())
    assert len(seen) == 1 + len(recording.events())
    assert all(a != b for a, b in zip(seen, seen[1:])), "an event left concepts.yaml as it was"
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    deps = {name: [str(d) for d in stage.get("deps", [])] for name, stage in stages.items()}
    assert not [name for name, files in deps.items() if any(f.endswith(".events.jsonl") for f in files)]
    assert "concepts/concepts.yaml" in deps["evaluate"] and "concepts/concepts.yaml" in deps["finetune"]


def test_threads_sharing_one_store_object_lose_no_update(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))

    def write(thread: int) -> None:
        for i in range(10):
            store.add("ear", [(f"t{thread}", i, 0)])

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.state().get("ear").positives) == 41 and store.state().version == 41
    store.verify()


# --- next_round: the round the pipeline builds next -------------------------------------------------------


def test_next_round_is_one_after_the_latest_round_labeled(store: ConceptStore) -> None:
    assert store.state().next_round == 0  # an empty store
    assert promote(store, "ear", born_round=0).event["round"] == 0
    assert store.state().next_round == 1
    store.add("ear", [("b", 0, 0)], round=2)
    assert store.state().next_round == 3
    store.rename("ear", "lobe")  # the session's round, 2: still 3
    store.undo()  # back to what it was before the rename: 3
    assert store.state().next_round == 3
    lines = store.path.read_text().splitlines()
    assert lines[lines.index("next_id: 2") + 1] == "next_round: 3"  # the key after next_id
    assert any(line.startswith("# next_round: the round `dvc repro` builds next") for line in lines)
    assert yaml.safe_load(store.path.read_text())["next_round"] == 3
    assert store.replay().next_round == 3 and store.replay() == store.state()
    assert store.replay(1).next_round == 1
    assert store.state().to_dict()["next_round"] == 3
    store.verify()


def test_undo_restores_next_round(store: ConceptStore) -> None:
    """A promote and its undo leave next_round as it was: `dvc repro` must not build a round with no new labels."""
    promote(store, "ear", born_round=2)
    assert store.state().next_round == 3
    promote(store, "eye", born_round=3)
    assert store.state().next_round == 4
    change = store.undo()
    assert change.event["args"] == {"undoes": 2, "next_round": 3}
    assert store.state().next_round == 3
    assert yaml.safe_load(store.path.read_text())["next_round"] == 3
    assert store.replay() == store.state()  # the log says so too
    assert ConceptStore(store.path).state().next_round == 3  # and a fresh reader of the log
    store.undo()
    assert store.state().next_round == 0 and store.state().concepts == ()
    promote(store, "nose", born_round=3)  # labeling again moves it on
    assert store.state().next_round == 4
    store.verify()


def test_an_undo_without_a_recorded_next_round_keeps_the_old_rule(store: ConceptStore) -> None:
    """A log written before undo recorded next_round replays as it was written: the highest round, plus one."""
    promote(store, "ear", born_round=3)
    store.undo()
    events = log_lines(store)
    del events[1]["args"]["next_round"]
    store.log_path.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert store.replay().next_round == 4
    store.rebuild()
    assert store.state().next_round == 4
    store.verify()


def test_next_round_is_0_when_no_event_has_a_round(store: ConceptStore) -> None:
    promote(store, "ear", born_round=0)
    (event,) = log_lines(store)
    del event["round"]  # as in a log written by hand
    store.log_path.write_text(json.dumps(event) + "\n")
    assert store.replay().next_round == 0
    store.rebuild()
    assert store.state().next_round == 0 and "next_round: 0\n" in store.path.read_text()
    store.verify()


def test_next_round_is_not_part_of_the_content_hash(store: ConceptStore) -> None:
    promote(store, "ear", born_round=4)
    state = store.state()
    assert state.next_round == 5
    assert dataclasses.replace(state, next_round=0).content_hash() == state.content_hash()
    assert store.events()[-1]["hash"] == state.content_hash()


def test_a_hand_edit_of_next_round_is_rewritten_from_the_log(store: ConceptStore) -> None:
    promote(store, "ear", born_round=1)
    store.path.write_text(store.path.read_text().replace("next_round: 2", "next_round: 9"))
    assert store.state().next_round == 9  # readers see the file
    with pytest.raises(InputError, match="next_round 9 in the file, 2 in the log"):
        store.verify()
    store.rename("ear", "lobe")
    assert [e["op"] for e in store.events()] == ["promote", "rename"]  # no external_edit
    assert store.state().next_round == 2 and "next_round: 2\n" in store.path.read_text()
    store.verify()
    store.path.write_text(store.path.read_text().replace("next_round: 2", "next_round: 0"))
    assert store.recover().next_round == 2 and "next_round: 2\n" in store.path.read_text()
    assert len(store.events()) == 2
    store.path.write_text(store.path.read_text().replace("next_round: 2", "next_round: 5"))
    assert store.rebuild().next_round == 2 and "next_round: 2\n" in store.path.read_text()


def test_a_file_without_next_round_loads_with_the_derived_value(store: ConceptStore) -> None:
    promote(store, "ear", born_round=0)
    store.add("ear", [("b", 0, 0)], round=1)
    text = store.path.read_text()
    store.path.write_text(text.replace("next_round: 2\n", ""))  # a file written before the key existed
    assert "next_round" not in yaml.safe_load(store.path.read_text())
    assert ConceptStore(store.path).state() == store.replay()
    assert store.state().next_round == 2
    store.verify()
    assert store.recover().next_round == 2
    store.rename("ear", "lobe")
    assert [e["op"] for e in store.events()] == ["promote", "add", "rename"]  # no external_edit
    assert "next_round: 2\n" in store.path.read_text()  # written again by the next write
    store.verify()


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_malformed_next_round_names_the_key(store: ConceptStore, value: str) -> None:
    promote(store, "ear")
    store.path.write_text(store.path.read_text().replace("next_round: 1", f"next_round: {value}"))
    with pytest.raises(InputError, match="next_round must be a whole number") as caught:
        store.state()
    assert caught.value.line == store.path.read_text().splitlines().index(f"next_round: {value}") + 1


# --- parallel writers -------------------------------------------------------------------------------------

WORKERS, OPS, VERSIONED_OPS = 8, 50, 15


def _writer(path: str, worker: int, ops: int, versioned: bool) -> int:
    """One writer process: promote its own concept, then add positions and rename it; returns its conflicts."""
    store = ConceptStore(path, actor=f"w{worker}")
    conflicts = 0

    def attempt(write: Any) -> None:
        nonlocal conflicts
        while True:
            try:
                write(store.state().version if versioned else None)
                return
            except ConflictError:
                conflicts += 1

    name = f"w{worker}"
    attempt(lambda v: store.promote(name, [(name, 0, 0)], layer="l", born_round=0, source={"kind": "manual"},
                                    expected_version=v))
    for i in range(1, ops):
        if i % 10 == 0:
            attempt(lambda v: store.rename(name, f"w{worker}-{i}", expected_version=v))
            name = f"w{worker}-{i}"
        else:
            attempt(lambda v: store.add(name, [(f"w{worker}", i, 0)], expected_version=v))
    return conflicts


@pytest.mark.parametrize(("versioned", "ops"), [(False, OPS), (True, VERSIONED_OPS)], ids=["locked", "versioned"])
def test_parallel_writer_processes_lose_no_update(store: ConceptStore, versioned: bool, ops: int) -> None:
    store.path.parent.mkdir(parents=True)
    seen = []
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        result = pool.starmap_async(_writer, [(str(store.path), w, ops, versioned) for w in range(WORKERS)])
        deadline = time.monotonic() + 120
        while not result.ready():  # a reader that never takes the lock must never see a partial file
            assert time.monotonic() < deadline, "the writers did not finish"
            seen.append(store.state().version)
            result.wait(0.005)
        conflicts = result.get()

    assert seen == sorted(seen)
    state = store.state()
    events = log_lines(store)
    assert [e["version"] for e in events] == list(range(1, WORKERS * ops + 1))
    assert state.version == WORKERS * ops and len(state.concepts) == WORKERS
    for w in range(WORKERS):
        last_rename = max([i for i in range(1, ops) if i % 10 == 0], default=None)
        concept = state.get(f"w{w}" if last_rename is None else f"w{w}-{last_rename}")
        assert concept.positives == tuple((f"w{w}", i, 0) for i in range(ops) if i == 0 or i % 10), w
        assert sum(e["actor"] == f"w{w}" for e in events) == ops
    assert sum(conflicts) == 0 or versioned
    store.verify()


# --- crashes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("recovery", ["recover", "next write"])
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_any_point_of_a_write_is_recovered(store: ConceptStore, point: str, recovery: str) -> None:
    promote(store, "ear", ("a", 0, 0))
    promote(store, "eye", ("b", 0, 0))
    before = store.state()
    code = f"from conceptstore.store import ConceptStore; ConceptStore({str(store.path)!r}).rename('ear', 'lobe')"
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(ROOT)}
    crashed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert crashed.returncode == 70, crashed.stderr

    assert store.pending_path.exists()
    assert store.state() == before  # not yet recovered: readers still see the old file, whole
    committed = point == "after-log"
    assert len(store.events()) == (3 if committed else 2)  # a torn line (mid-log) is not an event
    assert store.log_path.read_bytes().endswith(b"\n") == (point != "mid-log")

    if recovery == "recover":
        recovered = store.recover()
        assert recovered == store.state()
    else:
        promote(store, "nose", ("c", 0, 0))
        store.undo()  # back to the state after recovery, to compare
    assert not store.pending_path.exists()
    assert names(store) == (["lobe", "eye"] if committed else ["ear", "eye"])
    assert store.state().version == (3 if committed else 2) + (0 if recovery == "recover" else 2)
    ops = ["promote", "promote"] + (["rename"] if committed else []) + ([] if recovery == "recover" else ["promote", "undo"])
    assert [e["op"] for e in log_lines(store)] == ops
    store.verify()
    assert store.set_notes("eye", "after the crash").version == store.state().version
    store.verify()


def test_a_hand_edit_after_a_crash_wins_over_the_unfinished_rename(store: ConceptStore) -> None:
    promote(store, "ear", ("a", 0, 0))
    promote(store, "eye", ("b", 0, 0))
    code = f"from conceptstore.store import ConceptStore; ConceptStore({str(store.path)!r}).rename('ear', 'lobe')"
    env = {**os.environ, CRASH_ENV: "after-log", "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 70
    store.path.write_text(store.path.read_text().replace("name: eye", "name: iris"))  # the file still says 'ear'

    assert names(store) == ["ear", "iris"]
    assert store.recover() == store.state()
    assert names(store) == ["ear", "iris"] and not store.pending_path.exists()
    assert [e["op"] for e in store.events()] == ["promote", "promote", "rename", "external_edit"]
    store.verify()


def test_a_crash_before_the_first_commit_leaves_an_empty_store(tmp_path: Path) -> None:
    path = tmp_path / "concepts.yaml"
    code = (f"from conceptstore.store import ConceptStore; ConceptStore({str(path)!r}).promote('ear', [('a', 0, 0)], "
            "layer='l', born_round=0, source={'kind': 'manual'})")
    env = {**os.environ, CRASH_ENV: "mid-log", "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 70
    store = ConceptStore(path)
    assert store.recover() == StoreState(0, 1, ())
    assert store.log_path.read_bytes() == b"" and not store.pending_path.exists()
    assert promote(store, "ear").version == 1

