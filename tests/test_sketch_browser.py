"""The sketch page (/sketch) in a real browser: headless Chromium driven by Playwright against the app.

Each test opens /sketch on a fresh server (the ``labeling_server`` fixture: a small real round-0 project, so no
named concepts: channel and all-channel edits only), paints cells of a map with the real mouse, and checks what
the page shows against ``POST /api/edit``'s own answer for the same stack. No test may leave a JavaScript error
or a console error behind (but the ones it provokes on purpose).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PageHelper, opened_page

pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")


class Sketch(PageHelper):
    """The /sketch page of one test, its server, and what the browser complained about."""

    def __init__(self, page: Any, server: Any, shots: Path, path: str) -> None:
        super().__init__(page, server, shots)
        self.path = path

    def ready(self) -> None:
        super().ready()
        self.idle()

    def click(self, name: str) -> None:
        self.tid(name).click()
        self.idle()

    def cell_px(self, y: int, x: int) -> tuple[float, float]:
        """The centre of grid cell (y, x) on the editor's canvas, in page pixels."""
        grid = self.js("window.articulate.grid")
        box = self.tid("editor-canvas").bounding_box()
        ux, uy = grid["origin"] + grid["step"] * (x + 0.5), grid["origin"] + grid["step"] * (y + 0.5)
        return box["x"] + ux / 256 * box["width"], box["y"] + uy / 256 * box["height"]

    def paint(self, cells: list[tuple[int, int]], shift: bool = False) -> None:
        """One drag through the cells' centres with the real mouse (shift held: darken)."""
        self.tid("editor-canvas").scroll_into_view_if_needed()
        if shift:
            self.page.keyboard.down("Shift")
        self.page.mouse.move(*self.cell_px(*cells[0]))
        self.page.mouse.down()
        for cell in cells[1:]:
            self.page.mouse.move(*self.cell_px(*cell), steps=3)
        self.page.mouse.up()
        if shift:
            self.page.keyboard.up("Shift")

    def bars(self, side: str) -> list[dict[str, Any]]:
        return self.tid(f"{side}-bars").locator("li").evaluate_all(
            "els => els.map(e => ({name: e.dataset.class, p: Number(e.dataset.p),"
            " text: e.querySelector('.clb-value').textContent}))")

    def stack_items(self) -> list[str]:
        return [item.inner_text() for item in self.tid("stack").get_by_test_id("stack-item").all()]



def _page(browser: Any, server: Any, tmp_path: Path, path: str, helper: type | None = None) -> Any:
    server.project.coach()  # built once per test run, before the page waits for it
    return opened_page(browser, lambda page: (helper or Sketch)(page, server, tmp_path, path), 20_000)


@pytest.fixture
def sketch(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Sketch]:
    with _page(browser, labeling_server, tmp_path, "/sketch?point=0") as page:
        yield page


@pytest.fixture
def api(labeling_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=labeling_server.url, timeout=60) as client:
        yield client


def _percent(p: float) -> str:
    return f"{round(100 * p)}%"


# --- tests ---------------------------------------------------------------------------------------------------

def test_maps_paint_apply_and_predict_as_the_api(sketch: Sketch, api: httpx.Client) -> None:
    layer = sketch.js("window.articulate.layer")
    expected = api.post("/api/layer", json={"point": 0, "channels": 24}).json()
    assert layer["channels"] and layer["concepts"] == []
    # one map per channel returned, in the answer's order (strongest attribution first), labelled "ch N"
    tiles = sketch.tid("maps").locator("button.map-tile")
    assert tiles.count() == len(expected["channels"])
    names = tiles.locator(".map-name").all_inner_texts()
    assert names == [f"ch {c['channel']}" for c in expected["channels"]]
    # the class bars: the layer answer's top five
    shown = sketch.tid("class-bars").locator("li.clb:not([hidden])").evaluate_all(
        "els => els.sort((a, b) => Number(a.style.order) - Number(b.style.order)).map(e => e.dataset.class)")
    assert shown == [c["name"] for c in expected["classes"]]
    assert sketch.tid("reading").inner_text().startswith(expected["target"])
    assert sketch.tid("no-concepts").is_visible()  # round 0: no concept surgery
    assert sketch.tid("predict").is_disabled() and sketch.tid("result").is_hidden()

    # open the strongest channel, paint three cells and darken one, with the real mouse
    channel = expected["channels"][0]["channel"]
    sketch.click(f"map-ch-{channel}")
    assert sketch.tid("editor").is_visible() and sketch.js("window.articulate.open") == f"ch:{channel}"
    assert sketch.tid("apply").is_disabled()
    sketch.paint([(5, 5), (5, 6), (5, 7)])
    sketch.paint([(9, 3)], shift=True)
    assert sketch.js("window.articulate.cells") == [[5, 5], [5, 6], [5, 7], [9, 3]]
    assert sketch.tid("cell-count").inner_text() == "4"
    sketch.tid("factor-paint").fill("2.5")
    sketch.click("apply")
    stack = sketch.js("window.articulate.stack")
    assert stack == [{"channel": channel, "factor": 2.5, "cells": [[5, 5], [5, 6], [5, 7]]},
                     {"channel": channel, "factor": 0, "cells": [[9, 3]]}]
    assert len(sketch.stack_items()) == 2 and sketch.js("window.articulate.cells") == []

    sketch.click("predict")
    answer = api.post("/api/edit", json={"point": 0, "edits": stack}).json()
    assert sketch.js("window.articulate.result") == answer
    for side in ("before", "after"):
        bars = sketch.bars(side)
        assert [(b["name"], b["p"]) for b in bars] == [(c["name"], c["p"]) for c in answer[side]]
        assert [b["text"] for b in bars] == [_percent(c["p"]) for c in answer[side]]
    assert sketch.tid("reads").inner_text() == \
        f"reads as {answer['reads_before']} before, {answer['reads_after']} after"
    assert sketch.tid("edited-positions").inner_text() == f"{answer['edited_positions']} positions edited"
    assert sketch.status()[0] == "ok"
    sketch.shot("sketch-predicted")


def test_all_channels_filled_ablated_change_the_answer_and_undo_reset(sketch: Sketch, api: httpx.Client) -> None:
    grid = sketch.js("window.articulate.grid")
    channel = sketch.js("window.articulate.layer.channels[1].channel")
    sketch.click(f"map-ch-{channel}")
    sketch.click("fill")
    assert sketch.tid("cell-count").inner_text() == str(grid["rows"] * grid["cols"])
    sketch.tid("factor-paint").fill("0")
    sketch.tid("apply-to").select_option("all")
    sketch.click("apply")
    stack = sketch.js("window.articulate.stack")
    assert len(stack) == 1 and stack[0]["all"] is True and stack[0]["factor"] == 0
    assert len(stack[0]["cells"]) == grid["rows"] * grid["cols"]
    assert "every cell" in sketch.stack_items()[0]
    sketch.click("predict")
    result = sketch.js("window.articulate.result")
    assert result["edited_positions"] == grid["rows"] * grid["cols"]
    assert result["before"] != result["after"]  # nothing left of the layer: the answer changes
    assert result == api.post("/api/edit", json={"point": 0, "edits": stack}).json()

    # a second edit, undo it, then reset: the stack empties
    sketch.click("tool-paint")
    sketch.paint([(2, 2), (3, 3)])
    sketch.tid("apply-to").select_option("channel")
    sketch.click("apply")
    assert len(sketch.js("window.articulate.stack")) == 2
    sketch.click("undo-edit")
    assert sketch.js("window.articulate.stack") == stack and len(sketch.stack_items()) == 1
    assert sketch.tid("result").get_attribute("data-stale") == "true"
    sketch.click("reset-edits")
    assert sketch.js("window.articulate.stack") == [] and sketch.stack_items() == []
    assert sketch.tid("stack-empty").is_visible() and sketch.tid("predict").is_disabled()
    assert sketch.tid("result").is_hidden()

    # the erase tool unpaints
    sketch.paint([(4, 4), (4, 5)])
    sketch.click("tool-erase")
    sketch.paint([(4, 4)])
    assert sketch.js("window.articulate.cells") == [[4, 5]]


def test_target_rereads_and_concept_surgery_shows_the_server_sentence(sketch: Sketch) -> None:
    classes = sketch.js("Array.from(document.querySelectorAll('#target option')).map(o => o.value)")[1:]
    guess = sketch.js("window.articulate.layer.target")
    other = next(c for c in classes if c != guess)
    sketch.tid("target").select_option(other)
    sketch.idle()
    layer = sketch.js("window.articulate.layer")
    assert layer["target"] == other and layer["chosen"] == "person"
    names = sketch.tid("maps").locator(".map-name").all_inner_texts()
    assert names == [f"ch {c['channel']}" for c in layer["channels"]]

    # round 0: no surgery buttons; asking anyway shows the server's sentence, and pushes nothing
    assert sketch.tid("surgery").locator("button").count() == 0
    sketch.allowed.append(re.compile(r"Failed to load resource.*422"))
    assert sketch.js("window.articulate.surgery('ear', 'ablate')") is None
    sketch.idle()
    kind, text = sketch.status()
    assert kind == "error" and "no concepts to edit" in text, text
    assert sketch.js("window.articulate.stack") == []


def test_a_drawing_handed_over_from_the_drawing_page(browser: Any, labeling_server: Any, tmp_path: Path) -> None:
    strokes_px = [[(60, 60), (120, 70), (190, 80)], [(100, 40), (110, 130), (120, 220)]]
    with _page(browser, labeling_server, tmp_path, "/draw") as page:
        assert page.tid("open-editor").is_disabled()
        assert page.tid("sketch-link").get_attribute("href") == "/sketch"
        box = page.tid("canvas").bounding_box()
        for stroke in strokes_px:
            page.page.mouse.move(box["x"] + stroke[0][0] / 256 * box["width"], box["y"] + stroke[0][1] / 256 * box["height"])
            page.page.mouse.down()
            for x, y in stroke[1:]:
                page.page.mouse.move(box["x"] + x / 256 * box["width"], box["y"] + y / 256 * box["height"], steps=4)
            page.page.mouse.up()
            page.idle()
        drawn = page.js("window.articulate.strokes")
        assert len(drawn) == 2
        page.tid("open-editor").click()
        page.page.wait_for_url(re.compile(r"/sketch$"))
        page.ready()
        assert page.js("window.articulate.drawing") == {"strokes": drawn}
        assert page.js("window.articulate.layer.strokes") == drawn
        assert page.tid("source").inner_text() == "your drawing (2 strokes)"
        assert page.tid("maps").locator("button.map-tile").count() > 0
        page.shot("sketch-handed-over")


def test_no_drawing_says_so_and_links_to_the_drawing_page(browser: Any, labeling_server: Any,
                                                          tmp_path: Path) -> None:
    with _page(browser, labeling_server, tmp_path, "/sketch") as page:
        assert page.tid("no-drawing").is_visible()
        assert page.tid("no-drawing-link").get_attribute("href") == "/draw"
        assert page.tid("atlas-link").get_attribute("href") == "/"
        html = page.page.request.get(page.server.url + "/").text()
        assert 'href="/sketch"' in html


def _dream_settings(sketch: Sketch, octaves: int, steps: int, channel: int | None = None, layer: str = "") -> None:
    sketch.tid("dream-as").select_option("pixels")  # these dreams are checked as pictures
    if channel is None:
        sketch.tid("dream-toward").select_option("layer")
    else:
        sketch.tid("dream-toward").select_option("channel")
        sketch.tid("dream-channel").fill(str(channel))
    sketch.tid("dream-layer").fill(layer)
    sketch.tid("dream-octaves").fill(str(octaves))
    sketch.tid("dream-steps").fill(str(steps))


def test_dream_toward_a_channel_shows_progress_and_the_image(sketch: Sketch) -> None:
    # round 0: the layer, a channel, a cluster or a class, no concepts to dream toward; the defaults are the API's
    options = sketch.tid("dream-toward").locator("option").evaluate_all("els => els.map(e => e.value)")
    assert options == ["layer", "channel", "cluster", "class"]
    assert sketch.tid("dream-octaves").input_value() == "3" and sketch.tid("dream-steps").input_value() == "10"
    assert sketch.tid("dream-layer").input_value() == ""
    assert "early layers change strokes" in sketch.tid("dream-layer-hint").inner_text()
    assert sketch.tid("dream-figure").is_hidden() and sketch.tid("dream-cancel").is_disabled()

    _dream_settings(sketch, octaves=2, steps=3, channel=2)
    # click and read the controls in one turn of the page's event loop: a short dream may end before a second
    # round trip from the test could see it running
    during = sketch.js("""(() => {
        const el = id => document.querySelector(`[data-testid="${id}"]`);
        el('dream').click();
        return {idle: window.articulate.idle, dream: el('dream').disabled, cancel: el('dream-cancel').disabled,
                toward: el('dream-toward').disabled};
    })()""")
    assert during == {"idle": False, "dream": True, "cancel": False, "toward": True}, during
    sketch.idle()
    assert sketch.tid("dream-progress").is_visible()

    job = sketch.js("window.articulate.dream")
    assert job["status"] == "done" and job["progress"] == 1.0 and job["error"] is None
    assert sketch.js("document.getElementById('dream-progress').value") == 1
    assert sketch.tid("dream-state").inner_text().startswith("done")
    image = sketch.tid("dream-image")
    assert sketch.tid("dream-figure").is_visible() and image.is_visible()
    assert image.evaluate("e => e.tagName") == "IMG"
    src = image.get_attribute("src")
    assert src.startswith("data:image/png") and src == job["result"]["image"]
    assert image.evaluate("e => e.complete && e.naturalWidth > 0")  # the PNG decodes
    caption = sketch.tid("dream-caption").inner_text()
    assert "ch 2" in caption and caption == job["result"]["what"]
    kind, text = sketch.status()
    assert kind == "ok" and "ch 2" in text, text
    assert sketch.tid("dream").is_enabled() and sketch.tid("dream-cancel").is_disabled()
    sketch.shot("sketch-dreamt")


def test_a_dream_can_be_cancelled_and_an_unknown_layer_shows_the_server_sentence(sketch: Sketch) -> None:
    _dream_settings(sketch, octaves=3, steps=100)
    # Cancel is enabled as soon as the dream starts and is sent once the job has an id; both clicks in one turn of
    # the page's event loop, so a fast machine cannot finish the dream between them
    sketch.js("""(() => {
        const el = id => document.querySelector(`[data-testid="${id}"]`);
        el('dream').click();
        el('dream-cancel').click();
    })()""")
    sketch.idle()
    job = sketch.js("window.articulate.dream")
    assert job["status"] == "cancelled" and job["progress"] < 1.0, job
    assert sketch.tid("dream-state").inner_text().startswith("cancelled")
    assert sketch.tid("dream-progress").get_attribute("data-status") == "cancelled"
    kind, text = sketch.status()
    assert kind == "info" and "cancelled" in text, text
    if job["result"]:  # cancelled with the image so far: it shows
        assert sketch.tid("dream-image").get_attribute("src").startswith("data:image/png")
    assert sketch.tid("dream").is_enabled() and sketch.tid("dream-cancel").is_disabled()

    # an unknown layer: the server's sentence in the status line, and the page is usable again
    sketch.allowed.append(re.compile(r"Failed to load resource.*400"))
    _dream_settings(sketch, octaves=1, steps=1, layer="features.nope")
    sketch.tid("dream").click()
    sketch.idle()
    kind, text = sketch.status()
    assert kind == "error" and "unknown layer" in text, text
    assert sketch.js("window.articulate.dream")["status"] == "cancelled"  # the last job is still the cancelled one
    assert sketch.tid("dream").is_enabled()


def test_shift_and_rotate_a_channel_map_push_edits_and_predict(sketch: Sketch, api: httpx.Client) -> None:
    grid = sketch.js("window.articulate.grid")
    channel = sketch.js("window.articulate.layer.channels[0].channel")
    sketch.click(f"map-ch-{channel}")
    # painted cells are not part of a move: the whole map moves, and the painting stays for a later Apply
    sketch.paint([(1, 1), (1, 2)])
    sketch.click("shift-right")
    sketch.tid("shift-dy").fill("2")
    sketch.tid("shift-dx").fill("-1")
    sketch.click("shift")
    sketch.click("rotate-plus-90")
    assert sketch.js("window.articulate.stack") == [
        {"channel": channel, "shift": [0, 1]}, {"channel": channel, "shift": [2, -1]},
        {"channel": channel, "rotate": 90}]
    assert sketch.stack_items() == [f"ch {channel} shifted by (0, 1)", f"ch {channel} shifted by (2, -1)",
                                    f"ch {channel} rotated by 90°"]
    assert sketch.js("window.articulate.cells") == [[1, 1], [1, 2]]
    kind, text = sketch.status()
    assert kind == "ok" and f"Rotated ch {channel} by 90°" in text, text

    sketch.click("predict")
    stack = sketch.js("window.articulate.stack")
    answer = api.post("/api/edit", json={"point": 0, "edits": stack}).json()
    assert sketch.js("window.articulate.result") == answer
    assert answer["edit"] == (f"channel {channel} shifted by (0, 1); channel {channel} shifted by (2, -1); "
                              f"channel {channel} rotated by 90°")
    assert sketch.tid("edit-words").inner_text() == answer["edit"]
    assert answer["after"] != answer["before"]  # the strongest channel moved: the answer changes
    assert [b["p"] for b in sketch.bars("after")] == [c["p"] for c in answer["after"]]
    assert sketch.tid("result").get_attribute("data-stale") == "false"

    # all channels rotated by typed degrees: a new edit, the result stale until predicted again
    sketch.tid("apply-to").select_option("all")
    sketch.tid("rotate-degrees").fill("-45")
    sketch.click("rotate")
    assert sketch.js("window.articulate.stack")[-1] == {"all": True, "rotate": -45}
    assert sketch.stack_items()[-1] == "all channels rotated by -45°"
    assert sketch.tid("result").get_attribute("data-stale") == "true"
    sketch.click("predict")
    result = sketch.js("window.articulate.result")
    assert result["edit"].endswith("; all channels rotated by -45°")
    assert result["after"] != answer["after"]

    # a shift off the grid is refused on the page, nothing pushed
    sketch.tid("shift-dy").fill(str(grid["rows"]))
    sketch.click("shift")
    kind, text = sketch.status()
    assert kind == "error" and "shift dy" in text, text
    assert len(sketch.js("window.articulate.stack")) == 4

    # along an atlas cluster's direction (round 0 has no concepts; its clusters have directions)
    assert sketch.tid("apply-cluster").is_hidden()
    sketch.tid("apply-to").select_option("cluster")
    sketch.tid("apply-cluster").fill("2")
    sketch.click("shift-down")
    assert sketch.js("window.articulate.stack")[-1] == {"cluster": 2, "shift": [1, 0]}
    assert sketch.stack_items()[-1] == "cluster 2 shifted by (1, 0)"
    sketch.tid("apply-cluster").fill("")
    sketch.click("shift-down")
    kind, text = sketch.status()
    assert kind == "error" and "give its number" in text and len(sketch.js("window.articulate.stack")) == 5
    sketch.click("predict")
    assert sketch.js("window.articulate.result")["edit"].endswith("; cluster 2 shifted by (1, 0)")


def _dream_and_wait(sketch: Sketch) -> dict[str, Any]:
    sketch.tid("dream-as").select_option("pixels")  # these dreams are checked as pictures
    sketch.tid("dream-octaves").fill("1")
    sketch.tid("dream-steps").fill("2")
    sketch.tid("dream").click()
    sketch.idle()
    return sketch.js("window.articulate.dream")


def test_dream_toward_a_class_and_an_atlas_cluster(sketch: Sketch) -> None:
    classes = sketch.tid("dream-class").locator("option").evaluate_all("els => els.map(e => e.value)")
    coach = sketch.page.request.get(sketch.server.url + "/api/coach").json()
    assert classes == coach["classes"]
    # until chosen, the class is what the drawing reads as; only the chosen kind's input shows
    sketch.tid("dream-toward").select_option("class")
    assert sketch.tid("dream-class").input_value() == sketch.js("window.articulate.layer.target")
    assert sketch.tid("dream-class").is_visible() and sketch.tid("dream-channel").is_hidden()
    assert sketch.tid("dream-cluster").is_hidden()
    assert sketch.tid("dream-layer").is_disabled()  # a class is dreamt toward at the output, not at a layer
    other = next(c for c in classes if c != sketch.tid("dream-class").input_value())
    sketch.tid("dream-class").select_option(other)
    job = _dream_and_wait(sketch)
    assert job["status"] == "done" and job["result"]["what"] == f"class {other}", job
    assert sketch.tid("dream-caption").inner_text() == f"class {other}"
    assert sketch.tid("dream-image").get_attribute("src") == job["result"]["image"]

    sketch.tid("dream-toward").select_option("cluster")
    assert sketch.tid("dream-cluster").is_visible() and sketch.tid("dream-class").is_hidden()
    sketch.tid("dream-cluster").fill("1")
    job = _dream_and_wait(sketch)
    assert job["status"] == "done" and job["result"]["what"] == "cluster 1", job
    assert sketch.tid("dream-caption").inner_text() == "cluster 1"
    kind, text = sketch.status()
    assert kind == "ok" and "cluster 1" in text, text
    # the class chosen stays chosen; the layer can be chosen again for the whole layer
    sketch.tid("dream-toward").select_option("class")
    assert sketch.tid("dream-class").input_value() == other
    assert sketch.tid("dream-layer").is_disabled()
    sketch.tid("dream-toward").select_option("layer")
    assert sketch.tid("dream-layer").is_enabled()


def test_visualize_a_channel_then_again_from_the_cache(sketch: Sketch) -> None:
    assert sketch.tid("vis-figure").is_hidden() and sketch.tid("vis-empty").is_visible()
    channel = sketch.js("window.articulate.layer.channels[0].channel")
    sketch.click(f"map-ch-{channel}")
    assert sketch.tid("visualize-open").inner_text() == f"Visualize channel {channel}"
    sketch.tid("vis-as").select_option("pixels")  # these visualizations are checked as pictures
    sketch.tid("vis-steps").fill("16")
    # click and read the controls in one turn of the page's event loop (the job may end before a second look)
    during = sketch.js("""(() => {
        const el = id => document.querySelector(`[data-testid="${id}"]`);
        el('visualize-open').click();
        return {idle: window.articulate.idle, visualizing: window.articulate.visualizing,
                open: el('visualize-open').disabled, cluster: el('visualize-cluster').disabled,
                cancel: el('vis-cancel').disabled};
    })()""")
    assert during == {"idle": False, "visualizing": True, "open": True, "cluster": True, "cancel": False}, during
    sketch.idle()
    job = sketch.js("window.articulate.vis")
    assert job["status"] == "done" and job["result"]["what"] == f"channel {channel}", job
    assert job["result"]["cached"] is False
    image = sketch.tid("vis-image")
    assert sketch.tid("vis-figure").is_visible() and sketch.tid("vis-empty").is_hidden()
    assert image.get_attribute("src") == job["result"]["image"] and job["result"]["image"].startswith("data:image/png")
    assert image.evaluate("e => e.complete && e.naturalWidth > 0")
    assert sketch.tid("vis-caption").inner_text() == f"channel {channel}"
    assert sketch.tid("vis-state").inner_text() == "done 100%"
    assert sketch.tid("visualize-open").is_enabled() and sketch.tid("vis-cancel").is_disabled()

    # the same channel again: kept on disk for the round, done at once, and the caption says so
    sketch.click("visualize-open")
    again = sketch.js("window.articulate.vis")
    assert again["status"] == "done" and again["result"]["cached"] is True, again
    assert again["result"]["image"] == job["result"]["image"]
    assert sketch.tid("vis-caption").inner_text() == f"channel {channel} · cached"
    kind, text = sketch.status()
    assert kind == "ok" and f"channel {channel}" in text, text

    # an atlas cluster's direction, from the panel's own button
    sketch.tid("vis-cluster").fill("1")
    sketch.click("visualize-cluster")
    job = sketch.js("window.articulate.vis")
    assert job["status"] == "done" and job["result"]["what"] == "cluster 1" and job["result"]["cached"] is False
    assert sketch.tid("vis-caption").inner_text() == "cluster 1"
    sketch.shot("sketch-visualized")


def test_the_fields_take_their_ranges_from_the_server(sketch: Sketch, api: httpx.Client) -> None:
    """One limit, one place: the octaves, steps and factor fields' ranges are GET /api/limits' (the model's input
    has room for 5 octaves), and a value past them is refused on the page with the server's range."""
    limits = api.get("/api/limits").json()
    for field, name in (("dream-octaves", "dream_octaves"), ("dream-steps", "dream_steps"),
                        ("vis-steps", "visualize_steps"), ("factor-paint", "factor")):
        assert sketch.tid(field).get_attribute("max") == f"{limits[name]['max']:g}", field
        assert sketch.tid(field).get_attribute("min") == f"{limits[name]['min']:g}", field
    assert limits["dream_octaves"]["max"] == 5
    _dream_settings(sketch, octaves=6, steps=3)
    sketch.tid("dream").click()
    kind, text = sketch.status()
    assert kind == "error" and "octaves: give a whole number from 1 to 5" in text
    assert sketch.js("window.articulate.dream") is None  # nothing was sent
