"""The atlas page as a person works in it, in headless Chromium at 1440 x 900: an atlas and a map large enough to
read and lasso, Sub-clusters that says it is working, a round switch, an "add to" menu that chooses nothing by
itself, a delete that asks first, the keyboard's ways to the atlas's cells, the map's clusters and Undo, the
captions of the page's terse words, and a promote and its undo that leave the store's next_round as it was.

Screenshots land in each test's ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import VIEWPORT, RunningServer, opened_page
from tests.test_labeling_browser import Ui, atlas_summary

pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")

#: The smallest icon a person can read at a laptop's width (CSS pixels).
LEAST_ICON_PX = 48


@pytest.fixture
def ui(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Ui]:
    with opened_page(browser, lambda page: Ui(page, labeling_server, tmp_path), 15_000) as ui:
        yield ui


def icon_boxes(ui: Ui) -> list[dict[str, float]]:
    """The atlas's icons as drawn: each layout image's box on the page."""
    return ui.js("""() => [...document.querySelectorAll('#atlas-grid .layer-below image, #atlas-grid .imagelayer image')]
        .map(i => { const r = i.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; })""")


# --- sizes ---------------------------------------------------------------------------------------------------

def test_icons_and_map_are_large_enough_at_1440_by_900(ui: Ui) -> None:
    """Icons of at least 48 px, measured as drawn, here and at the default config's grid; the atlas whole in the
    first screen; the map large enough to lasso in a screen of its own."""
    from pipeline.config import compose

    assert ui.page.viewport_size == VIEWPORT
    icons = icon_boxes(ui)
    assert len(icons) == sum(1 for c in atlas_summary(ui)["cells"] if c["icon"])
    smallest = min(min(b["w"], b["h"]) for b in icons)
    assert smallest >= LEAST_ICON_PX, smallest
    assert all(abs(b["w"] - b["h"]) < 1 for b in icons)  # square, as the pictures are
    atlas = ui.page.locator("#atlas-grid").bounding_box()
    assert atlas["y"] >= 0 and atlas["y"] + atlas["height"] <= VIEWPORT["height"], atlas
    # the project's own atlas (the default grid, larger than the test project's): its cells at the plot's size
    default_size = int(compose([]).atlas.grid.size)
    side = ui.js("""() => { const L = document.getElementById('atlas-grid')._fullLayout;
        return Math.min(L.xaxis._length, L.yaxis._length); }""")
    assert side / default_size >= LEAST_ICON_PX, (side, default_size)
    first = ui.page.screenshot(path=ui.shots / "first-screen-1440x900.png")  # the viewport, as a person sees it
    assert first

    # the map's card scrolled up to just under the sticky header: its head and its whole plot in view
    header = ui.js("""() => { const top = document.querySelector('.top').getBoundingClientRect().height;
        const card = document.querySelector('.map-card').getBoundingClientRect();
        window.scrollTo(0, card.top + window.scrollY - top - 8); return top; }""")
    plot = ui.js("""() => { const L = document.getElementById('map')._fullLayout;
        return { w: L.xaxis._length, h: L.yaxis._length }; }""")
    assert plot["w"] >= 500 and plot["h"] >= 500, plot
    box = ui.page.locator("#map").bounding_box()
    assert box["y"] >= header and box["y"] + box["height"] <= VIEWPORT["height"], (header, box)
    ui.page.screenshot(path=ui.shots / "map-1440x900.png")
    print(f"\nicons {smallest:.1f} px (grid {int(atlas_summary(ui)['grid']['size'])}); at the default grid "
          f"{default_size}: {side / default_size:.1f} px; atlas {atlas['width']:.0f} x {atlas['height']:.0f}; "
          f"map plot {plot['w']:.0f} x {plot['h']:.0f}; shots in {ui.shots}")
    ui.check_errors()


# --- sub-clusters --------------------------------------------------------------------------------------------

def test_subclusters_disables_its_button_and_shows_progress_while_it_runs(ui: Ui) -> None:
    cluster = max(atlas_summary(ui)["clusters"], key=lambda c: c["size"])
    ui.select_cluster(cluster["cluster"])
    # what the page shows at the moment its request goes out
    ui.js("""() => { const send = window.fetch; window.seenAtSubclusters = [];
        window.fetch = (url, options) => {
          if (String(url).includes('/api/selection/subclusters')) {
            const b = document.getElementById('subclusters');
            window.seenAtSubclusters.push({ disabled: b.disabled, busy: b.getAttribute('aria-busy'),
              progress: !document.getElementById('subcluster-progress').hidden });
          }
          return send(url, options);
        }; }""")
    ui.click("subclusters")
    assert ui.js("window.seenAtSubclusters") == [{"disabled": True, "busy": "true", "progress": True}]
    assert ui.tid("subcluster-list").locator("button").count() >= 2
    assert ui.tid("subclusters").is_enabled() and ui.tid("subcluster-progress").is_hidden()
    ui.check_errors()


# --- add to, delete ------------------------------------------------------------------------------------------

def test_add_to_chooses_no_concept_by_itself(ui: Ui) -> None:
    clusters = atlas_summary(ui)["clusters"]
    ui.select_cluster(clusters[0]["cluster"])
    ear = ui.promote("ear")
    assert ui.tid("add-to").input_value() == "" and ui.tid("add-button").is_disabled()
    ui.select_cluster(clusters[1]["cluster"])
    assert ui.tid("add-to").input_value() == "" and ui.tid("add-button").is_disabled()
    ui.tid("add-to").select_option(ear.id)
    assert ui.tid("add-button").is_enabled()
    before = len(ui.only().positives)
    ui.click("add-button")
    assert ui.status()[0] == "ok", ui.status()
    assert len(ui.only().positives) > before
    ui.select_cluster(clusters[2]["cluster"])  # a new selection: chosen again, not carried over
    assert ui.tid("add-to").input_value() == ""
    ui.check_errors()


def test_delete_asks_first_and_undo_brings_it_back(ui: Ui) -> None:
    ui.select_cluster(atlas_summary(ui)["clusters"][0]["cluster"])
    ear = ui.promote("ear")
    version = ui.version()
    ui.tid(f"delete-{ear.id}").click()
    question = ui.tid(f"delete-question-{ear.id}")
    assert f"Delete 'ear' and its {len(ear.positives)} positions?" in question.inner_text()
    assert ui.js("document.activeElement.dataset.testid") == f"delete-keep-{ear.id}"  # the safe answer first
    assert ui.version() == version and [c.name for c in ui.concepts()] == ["ear"]
    ui.click(f"delete-keep-{ear.id}")
    assert question.count() == 0 and ui.version() == version
    ui.tid(f"delete-{ear.id}").click()
    ui.page.keyboard.press("Escape")                     # Escape keeps it too
    assert question.count() == 0 and ui.version() == version
    ui.tid(f"delete-{ear.id}").click()
    ui.click(f"delete-confirm-{ear.id}")
    assert ui.concepts() == [] and "Undo" in ui.status()[1]
    ui.shot("deleted")
    ui.click("undo")
    assert [c.name for c in ui.concepts()] == ["ear"]
    ui.check_errors()


# --- the keyboard --------------------------------------------------------------------------------------------

def test_keyboard_reaches_atlas_cells_map_clusters_and_undo(ui: Ui) -> None:
    page = ui.page
    summary = atlas_summary(ui)
    size = int(summary["grid"]["size"])
    cells = {c["cell"] for c in summary["cells"]}
    page.get_by_test_id("undo").focus()
    page.keyboard.press("Tab")                            # from the header's last control to the atlas
    assert ui.js("document.activeElement.id") == "atlas-grid"
    page.keyboard.press("ArrowRight")                    # the first key puts the cursor on the first cell
    start = min(cells)
    assert ui.tid("atlas-cursor").inner_text().startswith(f"cell {start} ")
    page.keyboard.press("ArrowDown")
    below = start + size
    assert ui.tid("atlas-cursor").inner_text().startswith(f"cell {below} ")
    target = below if below in cells else start
    if target != below:
        page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.wait_for_function("window.articulate.selection && window.articulate.selection.kind === 'cell'")
    ui.idle()
    assert ui.js("window.articulate.selection.key") == target

    ui.tid("map").focus()
    page.keyboard.press("ArrowRight")
    first = min(c["cluster"] for c in summary["clusters"])
    assert ui.tid("map-cursor").inner_text().startswith(f"cluster {first}")
    page.keyboard.press("ArrowRight")
    second = sorted(c["cluster"] for c in summary["clusters"])[1]
    page.keyboard.press("Enter")
    page.wait_for_function("window.articulate.selection && window.articulate.selection.kind === 'cluster'")
    ui.idle()
    assert ui.js("window.articulate.selection.key") == second
    page.keyboard.press("+")                              # zoom on the cluster, then select what is in view
    page.keyboard.press("+")
    page.keyboard.press("v")
    page.wait_for_function("window.articulate.selection && window.articulate.selection.kind === 'lasso'")
    ui.idle()
    inside, outside = ui.js("""() => { const L = document.getElementById('map')._fullLayout;
        const [x0, x1] = [...L.xaxis.range].sort((a, b) => a - b); const [y0, y1] = [...L.yaxis.range].sort((a, b) => a - b);
        const sel = new Set(window.articulate.selection.points);
        return fetch('/api/points').then(r => r.json()).then(p => {
          const seen = p.x.map((x, i) => x >= x0 && x <= x1 && p.y[i] >= y0 && p.y[i] <= y1);
          return [seen.filter((s, i) => s && sel.has(i)).length, seen.filter((s, i) => s !== sel.has(i)).length]; }); }""")
    assert inside == ui.js("window.articulate.selection.size") > 0 and outside == 0
    assert inside < ui.js("fetch('/api/points').then(r => r.json()).then(p => p.x.length)")  # zoomed in: a part

    # promote, then Ctrl+Z from the Promote button: undone, and the store's next_round as it was
    assert ui.server.store.state().next_round == 0
    ui.tid("concept-name").fill("by keys")
    ui.tid("concept-name").press("Control+z")            # in a text box, Ctrl+Z is the box's own undo
    ui.idle()
    assert ui.status()[0] != "error" and ui.server.store.events() == []
    ui.tid("concept-name").fill("by keys")
    ui.click("promote")
    assert [c.name for c in ui.concepts()] == ["by keys"] and ui.server.store.state().next_round == 1
    assert "Ctrl+Z undoes it" in ui.status()[1]
    assert ui.js("document.activeElement.dataset.testid") == "promote"
    page.keyboard.press("Control+z")
    page.wait_for_function("window.articulate.version === 2")
    ui.idle()
    assert ui.concepts() == [] and ui.server.store.events()[-1]["op"] == "undo"
    assert ui.server.store.state().next_round == 0     # `dvc repro` builds no round without new labels
    ui.check_errors()


# --- words -------------------------------------------------------------------------------------------------

def test_terse_words_have_captions_and_a_concept_says_why_its_selection_is_smaller(ui: Ui) -> None:
    for fact in ("layer", "metric-purity", "metric-nmi", "store-version"):
        caption = ui.tid(fact).evaluate("e => e.closest('[title]') && e.closest('[title]').title")
        assert caption and len(caption) > 30, (fact, caption)
    assert "data split" in ui.tid("layer").evaluate("e => e.closest('[title]').title")
    cluster = atlas_summary(ui)["clusters"][0]
    meta = ui.tid(f"cluster-meta-{cluster['cluster']}")
    assert meta.get_attribute("title").startswith(f"cluster {cluster['cluster']}: {cluster['size']} positions")
    if cluster["purity"] is not None:
        assert "most common part" in meta.get_attribute("title")

    store, view = ui.server.store, ui.server.project.view
    on_atlas = [0, 1, 2]
    store.promote("ear", [*view.positions(on_atlas), ("a drawing the atlas did not sample", 0, 0)], layer=view.layer,
                  born_round=0, source={"kind": "lasso"})
    ui.js("window.articulate.reload()")
    ui.idle()
    ear = ui.only()
    assert ui.text(f"concept-size-{ear.id}") == "4 positions"
    assert ui.text(f"concept-on-atlas-{ear.id}").strip() == "(3 on this atlas)"
    why = ui.tid(f"concept-on-atlas-{ear.id}").get_attribute("title")
    assert why.startswith("3 of its 4 positions are points of this atlas") and "sample" in why
    ui.click(f"concept-label-{ear.id}")
    assert ui.text("selection-size") == "3"
    assert ui.text("selection-of-concept") == why
    ui.shot("concept-on-atlas")
    ui.check_errors()


# --- the round switch --------------------------------------------------------------------------------------

@pytest.fixture
def two_rounds_server(concept_project: Any, tmp_path: Path) -> Iterator[RunningServer]:
    """The app on the round-1 project, able to show round 0's atlas too (both are built there)."""
    import shutil
    from functools import partial

    from conceptstore.store import ConceptStore
    from labeling.app import create_app
    from tests.defaults import AppSettings
    from labeling.atlas_view import AtlasView
    from labeling.deps import Rounds
    from pipeline.rounds import built_rounds

    shutil.copytree(concept_project.folder / "concepts", tmp_path / "concepts")
    store = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    cfg = concept_project.cfg()
    rounds = Rounds(built=partial(built_rounds, cfg.paths.atlases), open=partial(AtlasView.load, cfg))
    app = create_app(concept_project.view, store, AppSettings(port=0, cache_dir=str(tmp_path / "cache")),
                     rounds=rounds)
    running = RunningServer(app, concept_project, store)
    try:
        yield running
    finally:
        running.stop()


def test_the_round_switch_shows_another_rounds_atlas(browser: Any, two_rounds_server: RunningServer,
                                                     tmp_path: Path) -> None:
    server = two_rounds_server
    with httpx.Client(base_url=server.url, timeout=60) as api:
        assert api.get("/api/rounds").json() == {"rounds": [0, 1], "session": 1}
        assert api.get("/api/atlas").json()["round"] == 1
        assert api.get("/api/atlas", params={"round": 0}).json()["round"] == 0
        missing = api.get("/api/atlas", params={"round": 7})
        assert missing.status_code == 404
        assert missing.json()["error"] == ("no atlas for round 7 here: the rounds to look at are 0, 1 "
                                           "(the page's round menu)")
        assert api.get("/api/atlas", params={"round": "x"}).status_code == 400
    with opened_page(browser, lambda page: Ui(page, server, tmp_path), 30_000) as ui:
        assert ui.page.title().startswith("Articulate — round 1 atlas")
        menu = ui.tid("round-switch")
        assert menu.locator("option").all_inner_texts() == ["0", "1 (this session)"]
        assert menu.input_value() == "1"
        menu.select_option("0")
        ui.page.wait_for_url("**/?round=0")
        ui.page.wait_for_function("window.articulate && window.articulate.ready === true", timeout=30_000)
        ui.idle()
        assert ui.page.title().startswith("Articulate — round 0 atlas")
        assert ui.tid("round-switch").input_value() == "0"
        assert "round 0's atlas; the server was started on round 1" in ui.status()[1]
        zero = server.project.cfg()
        from labeling.atlas_view import AtlasView
        round_0 = AtlasView.load(zero, 0)
        assert ui.js("window.articulate.selection") is None
        assert ui.js("fetch('/api/points?round=0').then(r => r.json()).then(p => p.x.length)") == len(round_0)
        # the icons are round 0's files: every one of them loaded
        ui.page.wait_for_function("""() => [...document.querySelectorAll('#atlas-grid image')].length > 0""")
        hrefs = [h for h in ui.js("[...document.querySelectorAll('#atlas-grid image')].map(i => i.getAttribute('href'))")
                 if not h.startswith("data:")]  # the heatmap that takes the clicks is an image too
        assert hrefs and all(h.startswith("/atlas/") and h.endswith("?round=0") for h in hrefs), hrefs[:3]
        with httpx.Client(base_url=server.url, timeout=60) as api:
            assert all(api.get(h).status_code == 200 for h in hrefs[:5])
        cluster = ui.select_cluster(atlas_summary_of(ui, 0)["clusters"][0]["cluster"])
        assert len(cluster["points"]) == ui.js("window.articulate.selection.size")
        made = ui.promote("seen in round 0")
        assert made.born_round == 0 and made.source["round"] == 0
        ui.shot("round-0")
        ui.tid("round-switch").select_option("1")        # back to the session's own: no round in the address
        ui.page.wait_for_url(f"{server.url}/")
        ui.page.wait_for_function("window.articulate && window.articulate.ready === true", timeout=30_000)
        assert ui.page.title().startswith("Articulate — round 1 atlas")


def atlas_summary_of(ui: Ui, round_: int) -> dict[str, Any]:
    return ui.js(f"fetch('/api/atlas?round={round_}').then(r => r.json())")
