"""Strokes in the pages, in a real browser (headless Chromium driven by Playwright against the real small round-0
project): a feature visualization "as strokes" shows a drawing on the sketch page, and "Trace it" opens it on the
drawing page as a ghost under the ink; "Show me" on a concept the coach says is missing draws a ghost of the
strokes that would add it, without touching the person's drawing. No test may leave a JavaScript error behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import opened_page
from tests.test_draw_browser import CAT, Pad
from tests.test_sketch_browser import Sketch

pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")

#: Dark pixels on a canvas (the ink of a drawing), counted in the page.
INKED = """id => { const c = document.querySelector(`[data-testid="${id}"]`);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 60) n += 1; return n; }"""


@pytest.fixture
def sketch(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Sketch]:
    labeling_server.project.coach()  # built once per test run, before the page waits for it
    with opened_page(browser, lambda page: Sketch(page, labeling_server, tmp_path, "/sketch?point=0"), 20_000) as page:
        yield page


@pytest.fixture
def pad(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Pad]:
    labeling_server.project.coach()
    with opened_page(browser, lambda page: Pad(page, labeling_server, tmp_path), 20_000) as page:
        yield page


def test_a_visualization_as_strokes_is_a_drawing_to_trace(sketch: Sketch) -> None:
    assert sketch.tid("vis-as").input_value() == "strokes"  # the default for a sketch model
    sketch.tid("vis-steps").fill("16")
    sketch.tid("vis-cluster").fill("1")
    sketch.click("visualize-cluster")
    sketch.page.wait_for_function("window.articulate.vis && window.articulate.vis.status === 'done'")
    sketch.idle()
    drawn = sketch.tid("vis-drawing")
    assert drawn.is_visible() and not sketch.tid("vis-image").is_visible()
    strokes = sketch.js("window.articulate.vis.result.strokes")
    assert int(drawn.get_attribute("data-strokes")) == len(strokes) > 0
    assert sketch.js(INKED, "vis-drawing") > 50  # the strokes are drawn on the canvas
    assert "strokes drawn from scratch" in sketch.tid("vis-explain").inner_text()
    assert sketch.tid("vis-caption").inner_text().startswith("cluster 1")
    assert sketch.tid("vis-download").get_attribute("href").startswith("data:application/x-ndjson")
    sketch.shot("visualization-as-strokes")

    sketch.tid("vis-trace").click()  # to the drawing page, as a ghost to trace
    sketch.page.wait_for_url("**/draw")
    sketch.ready()
    sketch.page.wait_for_function("window.articulate.idle === true")
    ghost = sketch.js("window.articulate.ghost")
    assert ghost["strokes"] == strokes and ghost["what"] == "cluster 1"
    assert sketch.js("window.articulate.strokes") == []  # a ghost is not the person's drawing
    assert sketch.tid("ghost-bar").is_visible() and "cluster 1" in sketch.tid("ghost-caption").inner_text()
    assert sketch.js(INKED, "ghost") > 50
    sketch.shot("visualization-traced")
    sketch.tid("ghost-hide").click()
    assert sketch.js("window.articulate.ghost") is None and not sketch.tid("ghost-bar").is_visible()


def test_a_dream_as_strokes_opens_as_the_drawing_of_the_sketch_page(sketch: Sketch) -> None:
    sketch.tid("dream-steps").fill("4")
    sketch.tid("dream-octaves").fill("1")
    sketch.click("dream")
    sketch.page.wait_for_function("window.articulate.dream && window.articulate.dream.status === 'done'")
    sketch.idle()
    result = sketch.js("window.articulate.dream.result")
    assert result["as"] == "strokes" and sketch.tid("dream-drawing").is_visible()
    assert sketch.js(INKED, "dream-drawing") > 50
    sketch.tid("dream-open").click()  # the dream becomes the page's drawing
    sketch.page.wait_for_url("**/sketch")
    sketch.ready()
    assert sketch.js("window.articulate.drawing") == {"strokes": result["strokes"]}
    assert sketch.tid("source").inner_text() == f"the dream toward {result['what']} ({len(result['strokes'])} strokes)"


def test_show_me_draws_a_ghost_of_the_missing_concept(pad: Pad) -> None:
    pad.tid("target").select_option("cat")  # the coach says what is missing from a class the person names
    pad.idle()
    pad.draw([(100, 100), (125, 100), (150, 100)])
    assert pad.js("window.articulate.answer.missing"), "the coach should find parts missing from a lone line"
    button = pad.tid("show-me").first
    concept = button.get_attribute("data-concept")
    assert concept in pad.js("window.articulate.answer.missing")
    before = pad.strokes()
    button.click()
    pad.page.wait_for_function("window.articulate.ghost !== null", timeout=60_000)
    pad.idle()
    ghost = pad.js("window.articulate.ghost")
    assert ghost["concept"] == concept and ghost["strokes"]
    assert pad.strokes() == before  # nothing added to the drawing until the person draws
    assert pad.js(INKED, "ghost") > 20 and pad.tid("ghost-bar").is_visible()
    kind, text = pad.status()
    assert kind == "ok" and "Trace the dashed strokes" in text
    assert all(not b.is_disabled() for b in pad.tid("show-me").all())  # on again once it is done
    pad.shot("show-me-ghost")
    pad.draw(CAT[0])  # drawing keeps the ghost (it may take several strokes to trace)
    assert pad.js("window.articulate.ghost") is not None and len(pad.strokes()) == 2
