"""The sketch page (/sketch) and the atlas page's concept list on a round with named concepts, in a real browser.

The ``concept_server`` fixture serves round 1 of a small project: two concepts promoted from the round-0 atlas,
the model fine-tuned with their concept head, its own atlas, and the evaluate stage's reliance table. Each test
opens a page on a fresh server and checks what it shows against the API's own answers. No test may leave a
JavaScript error or a console error behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PageHelper
from tests.test_sketch_browser import Sketch, _page

pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")


@pytest.fixture
def sketch(browser: Any, concept_server: Any, tmp_path: Path) -> Iterator[Sketch]:
    with _page(browser, concept_server, tmp_path, "/sketch?point=0") as page:
        yield page


@pytest.fixture
def api(concept_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=concept_server.url, timeout=60) as client:
        yield client


def _points(d: float) -> str:
    return f"{100 * d:.1f} pts"


def _words(entry: dict[str, Any], short: bool = False) -> str:
    """A reliance entry as the pages word it (labeling/static/js/shared/reliance.js)."""
    if not entry["worst_class"] or entry["max_drop"] <= 0.0005:
        return "not relied on" if short else "no class relies on it"
    return f"−{_points(entry['max_drop'])}{' ' if short else ' on '}{entry['worst_class']}"


class Atlas(PageHelper):
    """The atlas page (/) of one test."""

    def __init__(self, page: Any, server: Any, shots: Path, path: str) -> None:
        super().__init__(page, server, shots)
        self.path = path


def _check_reliance(sketch: Sketch, atlas: Atlas, reliance: dict[str, Any]) -> None:
    """Each concept's reliance line on the sketch page and its badge on the atlas page, as ``reliance`` says."""
    assert sketch.js("window.articulate.reliance") == reliance
    assert sketch.tid("reliance-note").count() == 0
    for concept in sketch.js("window.articulate.layer.concepts"):
        entry = next(r for r in reliance["concepts"] if r["id"] == concept["id"])
        note = sketch.tid(f"reliance-{concept['id']}")
        assert note.inner_text() == _words(entry)
        title = note.get_attribute("title")
        assert title.startswith(f"without {concept['name']}, round {reliance['round']}'s accuracy "), title
        assert all(f"{name} {_points(d)}" in title for name, d in entry["drop"].items()), title
    shown = 0
    for concept in atlas.js("window.articulate.concepts"):  # the store's concepts: those the model learnt badged
        entry = next((r for r in reliance["concepts"] if r["id"] == concept["id"]), None)
        badge = atlas.tid(f"concept-reliance-{concept['id']}")
        if entry is None:
            assert badge.count() == 0
            continue
        shown += 1
        assert badge.inner_text() == _words(entry, short=True)
        assert badge.get_attribute("title").startswith(f"without {concept['name']}, round {reliance['round']}")
    assert shown == len(reliance["concepts"])


# --- tests ---------------------------------------------------------------------------------------------------

def test_ablating_a_concept_by_surgery_lowers_its_presence(sketch: Sketch, api: httpx.Client) -> None:
    layer = sketch.js("window.articulate.layer")
    names = [c["name"] for c in layer["concepts"]]
    assert sorted(names) == sorted(sketch.server.project.concepts) and len(names) == 2
    assert sketch.tid("no-concepts").count() == 0
    # the drawing's strongest concept: ablating it along its direction leaves less of it
    strongest = max(layer["concepts"], key=lambda c: c["presence"])
    cid = strongest["id"]
    sketch.click(f"ablate-{cid}")
    stack = sketch.js("window.articulate.stack")
    assert stack == [{"concept": cid, "factor": 0}]
    assert sketch.stack_items() == [f"{strongest['name']} × 0"]
    result = sketch.js("window.articulate.result")
    assert result == api.post("/api/edit", json={"point": 0, "edits": stack}).json()
    row = {c["id"]: c for c in result["concepts"]}[cid]
    assert row["after"] < row["before"], row
    cells = sketch.tid(f"presence-{cid}").locator("td").all_inner_texts()
    assert cells == [strongest["name"], f"{row['before']:.2f}", f"{row['after']:.2f}"]

    # Predict the stack again (after a move of the other concept): the same fall, and the move's label
    other = next(c for c in layer["concepts"] if c["id"] != cid)
    sketch.click(f"map-concept-{other['id']}")
    assert sketch.tid("apply-to").input_value() == f"concept:{other['id']}"
    sketch.click("rotate-minus-90")
    assert sketch.js("window.articulate.stack")[-1] == {"concept": other["id"], "rotate": -90}
    sketch.click("predict")
    again = sketch.js("window.articulate.result")
    assert again["edit"] == f"{strongest['name']} x 0; {other['name']} rotated by -90°"
    assert {c["id"]: c for c in again["concepts"]}[cid]["after"] < row["before"]
    sketch.shot("sketch-concept-ablated")


def test_visualize_a_concept_twice_the_second_from_the_cache(sketch: Sketch) -> None:
    concept = sketch.js("window.articulate.layer.concepts[0]")
    sketch.tid("vis-as").select_option("pixels")  # these visualizations are checked as pictures
    sketch.tid("vis-steps").fill("16")
    sketch.click(f"visualize-{concept['id']}")
    job = sketch.js("window.articulate.vis")
    assert job["status"] == "done" and job["result"] == {**job["result"], "what": f"concept {concept['name']}",
                                                         "cached": False}, job
    assert sketch.tid("vis-caption").inner_text() == f"concept {concept['name']}"
    assert sketch.tid("vis-image").get_attribute("src") == job["result"]["image"]
    assert sketch.tid("vis-image").evaluate("e => e.complete && e.naturalWidth > 0")

    sketch.click(f"visualize-{concept['id']}")
    again = sketch.js("window.articulate.vis")
    assert again["status"] == "done" and again["result"]["cached"] is True, again
    assert again["result"]["image"] == job["result"]["image"]
    assert sketch.tid("vis-caption").inner_text() == f"concept {concept['name']} · cached"

    # the open concept map's button asks for the same picture
    sketch.click(f"map-concept-{concept['id']}")
    assert sketch.tid("visualize-open").inner_text() == f"Visualize {concept['name']}"
    sketch.click("visualize-open")
    assert sketch.js("window.articulate.vis.result.cached") is True


def test_reliance_per_concept_on_the_sketch_and_atlas_pages(browser: Any, concept_server: Any, tmp_path: Path,
                                                            sketch: Sketch, api: httpx.Client) -> None:
    reliance = api.get("/api/reliance").json()
    assert reliance["available"] is True and reliance["round"] == 1, reliance
    assert {r["id"] for r in reliance["concepts"]} == {c["id"] for c in sketch.js("window.articulate.layer.concepts")}
    with _page(browser, concept_server, tmp_path, "/", helper=Atlas) as atlas:
        _check_reliance(sketch, atlas, reliance)
        atlas.shot("atlas-reliance")


def test_reliance_drops_and_not_measured(browser: Any, concept_server: Any, tmp_path: Path,
                                         sketch: Sketch) -> None:
    # the server's answer stands in for a round whose accuracy leans on a concept, then for one not evaluated
    first, second = sketch.js("window.articulate.layer.concepts")
    classes = sketch.page.request.get(concept_server.url + "/api/coach").json()["classes"]
    drops = {name: 0.0 for name in classes}
    leaning = {"round": 1, "available": True, "message": None, "grow": 2, "classes": classes,
               "accuracy": [0.5] * len(classes), "concepts": [
                   {"id": first["id"], "name": first["name"], "drop": {**drops, classes[2]: 0.125, classes[0]: 0.02},
                    "max_drop": 0.125, "worst_class": classes[2]},
                   {"id": second["id"], "name": second["name"], "drop": drops, "max_drop": 0.0,
                    "worst_class": classes[0]}]}
    why = "round 1 is not evaluated yet (run the evaluate stage)"
    unavailable = {"round": 1, "available": False, "message": why, "grow": None, "classes": [], "accuracy": [],
                   "concepts": []}
    with _page(browser, concept_server, tmp_path, "/", helper=Atlas) as atlas:
        for page in (sketch, atlas):
            page.page.route("**/api/reliance", lambda route: route.fulfill(json=leaning))
            page.open()
        _check_reliance(sketch, atlas, leaning)
        assert sketch.tid(f"reliance-{first['id']}").inner_text() == f"−12.5 pts on {classes[2]}"
        assert sketch.tid(f"reliance-{second['id']}").inner_text() == "no class relies on it"
        assert atlas.tid(f"concept-reliance-{first['id']}").get_attribute("class") == "reliance-badge relied"
        sketch.shot("sketch-reliance")

        for page in (sketch, atlas):
            page.page.unroute("**/api/reliance")
            page.page.route("**/api/reliance", lambda route: route.fulfill(json=unavailable))
            page.open()
        assert sketch.js("window.articulate.reliance") == unavailable
        for concept in (first, second):
            note = sketch.tid(f"reliance-{concept['id']}")
            assert note.inner_text() == "reliance not measured" and note.get_attribute("title") == why
            assert atlas.tid(f"concept-reliance-{concept['id']}").count() == 0
        assert sketch.tid("reliance-note").inner_text() == f"Reliance not measured: {why}"
        assert atlas.tid("concept-count").get_attribute("title") == f"reliance not measured: {why}"
        assert sketch.tid(f"ablate-{first['id']}").is_enabled()  # the surgery works without it


def test_a_concept_is_drawn_where_it_was_in_the_previous_round_too(browser: Any, concept_server: Any,
                                                                    tmp_path: Path, api: httpx.Client) -> None:
    """Click a concept on the round-1 atlas page: its points on this map (the selection) and, hollow, where they
    were on round 0's map (this map is aligned onto it), as the API answers them; a cluster shows no round 0."""
    concept = api.get("/api/concepts").json()["concepts"][0]
    chosen = api.post("/api/selection", json={"concept": concept["id"]}).json()
    previous = chosen["previous"]
    assert previous["round"] == 0 and 0 < len(previous["x"]) == len(previous["y"])
    with _page(browser, concept_server, tmp_path, "/", helper=Atlas) as atlas:
        atlas.tid(f"concept-label-{concept['id']}").click()
        atlas.idle()
        traces = atlas.js("Array.from(document.getElementById('map').data, (t) => ({name: t.name, "
                          "x: Array.from(t.x || []), y: Array.from(t.y || [])}))")
        drawn = {t["name"]: t for t in traces}
        assert drawn["round 0"]["x"] == pytest.approx(previous["x"]) and drawn["round 0"]["y"] == pytest.approx(
            previous["y"])
        assert len(drawn["selection"]["x"]) == len(chosen["points"])
        assert "round 0" in atlas.js("document.getElementById('map').innerText")  # in the legend
        atlas.shot("concept-both-rounds")
        cluster = api.get("/api/atlas").json()["clusters"][0]["cluster"]
        atlas.tid(f"cluster-{cluster}").click()
        atlas.idle()
        after = dict(atlas.js("Array.from(document.getElementById('map').data, "
                              "(t) => [t.name, (t.x || []).length])"))
        assert after["previous round"] == 0 and after["selection"] > 0  # a cluster: no earlier round drawn
        atlas.check_errors()
