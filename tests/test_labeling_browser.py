"""The artist's page in a real browser: headless Chromium driven by Playwright against the labeling app.

Each test opens the page on a fresh server with an empty concept store (the ``labeling_server`` fixture),
acts as the artist would (clicks, ticks, typing; a lasso through the page's ``window.articulate`` hook or a
real mouse drag), and checks both the page and the concept store itself after each step. Screenshots of the
steps land in the test's ``tmp_path``. No test may leave a JavaScript error or a console error behind.

Needs the system Chromium (``chromium`` on PATH); Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import READY_TIMEOUT_MS, VIEWPORT, opened_page

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")



# --- fixtures ------------------------------------------------------------------------------------------------

class Ui:
    """The page of one test, its server, and everything the browser complained about."""

    def __init__(self, page: Any, server: Any, shots: Path) -> None:
        self.page, self.server, self.shots = page, server, shots
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        page.on("pageerror", lambda err: self.errors.append(f"pageerror: {err}"))
        page.on("console", lambda msg: self.errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    # navigation and waiting
    def open(self) -> None:
        self.page.goto(self.server.url + "/", wait_until="commit")
        self.page.wait_for_function("window.articulate && window.articulate.ready === true", timeout=READY_TIMEOUT_MS)

    def idle(self) -> None:
        """Wait until the page has no request in flight (selections, writes and their reloads)."""
        self.page.wait_for_function("window.articulate.idle === true", timeout=15_000)

    def tid(self, name: str) -> Any:
        return self.page.get_by_test_id(name)

    def click(self, name: str) -> None:
        self.tid(name).click()
        self.idle()

    def text(self, name: str) -> str:
        return self.tid(name).inner_text()

    def status(self) -> tuple[str, str]:
        box = self.tid("status")
        return box.get_attribute("data-kind") or "", box.inner_text()

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    # the store, seen directly
    def concepts(self) -> list[Any]:
        return list(self.server.store.state().concepts)

    def version(self) -> int:
        return self.server.store.state().version

    def only(self) -> Any:
        concepts = self.concepts()
        assert len(concepts) == 1, [c.name for c in concepts]
        return concepts[0]

    # steps
    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")  # the header is sticky: shoot the page from its top
        self.page.screenshot(path=path, full_page=True)
        assert path.is_file() and path.stat().st_size > 20_000, f"{path} is missing or nearly empty"
        return path

    def select_cluster(self, cluster: int) -> dict[str, Any]:
        self.click(f"cluster-{cluster}")
        selection = self.js("window.articulate.selection")
        assert selection["kind"] == "cluster" and selection["key"] == cluster
        return selection

    def lasso(self, points: list[int]) -> dict[str, Any]:
        selection = self.js("ids => window.articulate.selectPoints(ids)", points)
        self.idle()
        assert selection is not None, self.status()
        return selection

    def promote(self, name: str) -> Any:
        before = self.version()
        self.tid("concept-name").fill(name)
        self.click("promote")
        kind, message = self.status()
        assert kind == "ok", message
        assert self.version() == before + 1
        return next(c for c in self.concepts() if c.name == name)

    def check_errors(self) -> None:
        unexpected = [e for e in self.errors if not any(p.search(e) for p in self.allowed)]
        assert not unexpected, unexpected
        assert not self.dialogs, f"the page opened dialogs: {self.dialogs}"


@pytest.fixture
def ui(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Ui]:
    with opened_page(browser, lambda page: Ui(page, labeling_server, tmp_path), 15_000) as ui:
        yield ui


def positions(server: Any, points: list[int]) -> set[tuple]:
    """The store's data coordinates (key_id, y, x) of atlas points."""
    return {_position(p) for p in server.project.view.positions(points)}


def _position(p: Any) -> tuple:
    if isinstance(p, dict):
        return (p["key_id"], int(p["y"]), int(p["x"]))
    if hasattr(p, "key_id"):
        return (p.key_id, int(p.y), int(p.x))
    key_id, y, x = p
    return (key_id, int(y), int(x))


def stored(items: Any) -> set[tuple]:
    return {_position(p) for p in items}


def atlas_summary(ui: Ui) -> dict[str, Any]:
    return ui.js("fetch('/api/atlas').then(r => r.json())")


def concept_row_names(ui: Ui) -> list[str]:
    return ui.page.locator("[data-testid^='concept-label-']").all_inner_texts()


# --- the walk-through ----------------------------------------------------------------------------

def test_select_untick_promote_rename_undo(ui: Ui) -> None:
    page = ui.page
    assert page.title().startswith("Articulate — round 0 atlas")
    assert ui.text("store-version") == "v0"
    ui.shot("00-loaded")

    cluster = atlas_summary(ui)["clusters"][0]
    selection = ui.select_cluster(cluster["cluster"])
    assert ui.text("selection-size") == str(cluster["size"])
    assert ui.text("selection-purity").startswith(f"{cluster['purity']:.2f}")
    assert ui.tid(f"cluster-{cluster['cluster']}").get_attribute("aria-pressed") == "true"
    exemplars = selection["exemplars"]
    assert exemplars and ui.page.locator("[data-testid^='exemplar-']").count() == len(exemplars)
    ui.shot("01-selected")

    unticked = exemplars[0]["point"]
    box = ui.tid(f"exemplar-{unticked}")
    assert box.is_checked()
    box.uncheck()
    assert not box.is_checked()
    assert ui.text("unticked-count") == "1"
    ui.shot("02-unticked")

    concept = ui.promote("ear")
    assert ui.version() == 1
    assert [c.name for c in ui.concepts()] == ["ear"]
    assert stored(concept.negatives) == positions(ui.server, [unticked])
    assert stored(concept.positives) == positions(ui.server, selection["points"]) - positions(ui.server, [unticked])
    assert concept_row_names(ui) == ["ear"]
    assert ui.text("store-version") == "v1"
    assert "ear" in ui.text("status")
    ui.shot("03-promoted")

    ui.click(f"rename-{concept.id}")
    ui.tid(f"rename-input-{concept.id}").fill("ear tip")
    ui.click(f"rename-save-{concept.id}")
    assert ui.only().name == "ear tip"
    assert concept_row_names(ui) == ["ear tip"]
    assert ui.status()[0] == "ok"
    ui.shot("04-renamed")

    ui.click("undo")
    assert ui.only().name == "ear"
    assert concept_row_names(ui) == ["ear"]
    assert ui.text("store-version") == f"v{ui.version()}"
    ui.page.get_by_test_id("events").get_by_text("renamed", exact=False).first.wait_for()
    ui.shot("05-undone")
    ui.check_errors()


# --- browsing: the Plotly paths themselves ----------------------------------------------------------------

def _plot_pixel(ui: Ui, plot: str, x: float, y: float) -> tuple[float, float]:
    """Page pixel of data point (x, y) in a Plotly figure (axes' offsets: a square plot may not fill its box)."""
    return tuple(ui.js("""([id, x, y]) => {
        const gd = document.getElementById(id); const L = gd._fullLayout; const box = gd.getBoundingClientRect();
        return [box.left + L.xaxis._offset + L.xaxis.l2p(x), box.top + L.yaxis._offset + L.yaxis.l2p(y)];
    }""", [plot, x, y]))


def test_browse_colour_by_hover_real_lasso_and_cell_click(ui: Ui) -> None:
    """Colour-by switches; a mouse lasso on the map; hovering shows the sketch; a click on an atlas cell."""
    page = ui.page
    for choice, expected in [("class", None), ("attribution", ["attribution"]), ("concept", ["no concept"]),
                             ("cluster", None)]:
        ui.tid("color-by").select_option(choice)
        ui.idle()
        traces = ui.js("document.getElementById('map').data.map(t => t.name)")
        # last: a concept's points on the previous round's map (none in round 0), then the selection
        assert traces[-2:] == ["previous round", "selection"], traces
        if expected is not None:
            assert traces[:-2] == expected, traces
        elif choice == "class":
            assert len(traces) - 2 == len(atlas_summary(ui)["classes"]), traces
        if choice == "attribution":
            ui.shot("colour-attribution")

    data = ui.js("fetch('/api/points').then(r => r.json())")
    xs, ys = data["x"], data["y"]
    cx, cy = sorted(xs)[len(xs) // 2], sorted(ys)[len(ys) // 2]
    span = (max(xs) - min(xs)) * 0.12
    corners = [(cx - span, cy - span), (cx + span, cy - span), (cx + span, cy + span), (cx - span, cy + span)]
    inside = sorted(i for i, (x, y) in enumerate(zip(xs, ys, strict=True))
                    if cx - span < x < cx + span and cy - span < y < cy + span)
    assert inside
    page.locator("#map").scroll_into_view_if_needed()
    pixels = [_plot_pixel(ui, "map", x, y) for x, y in corners]
    page.mouse.move(*pixels[0])
    page.mouse.down()
    for target in [*pixels[1:], pixels[0]]:
        page.mouse.move(*target, steps=8)
    page.mouse.up()
    page.wait_for_function("window.articulate.selection && window.articulate.selection.kind === 'lasso'")
    ui.idle()
    got = ui.js("window.articulate.selection.points")
    # the lasso polygon is the square in pixels; points on its edge may fall either way
    assert len(set(got) ^ set(inside)) <= max(3, len(inside) // 10), (len(got), len(inside))
    assert ui.text("selection-size") == str(len(got))
    ui.shot("real-lasso")

    point = inside[0]
    page.mouse.move(*_plot_pixel(ui, "map", xs[point], ys[point]))
    page.wait_for_function("document.getElementById('preview-img').src.includes('/api/sketch/')")

    cell = max(atlas_summary(ui)["cells"], key=lambda c: c["count"])
    page.locator("#atlas-grid").scroll_into_view_if_needed()
    page.mouse.click(*_plot_pixel(ui, "atlas-grid", *cell["centre"]))
    page.wait_for_function("window.articulate.selection && window.articulate.selection.kind === 'cell'")
    ui.idle()
    assert ui.js("window.articulate.selection.key") == cell["cell"]
    assert ui.text("selection-size") == str(cell["count"])
    ui.shot("cell-click")
    ui.check_errors()


def test_the_first_screen_at_1440_by_900(ui: Ui) -> None:
    """The atlas whole in the first screen, the map a screen of its own below it (each large enough to read and
    lasso: tests/test_atlas_room_browser.py measures them); clusters numbered on the map; the icon score
    explained."""
    atlas = ui.page.locator("#atlas-grid").bounding_box()
    assert ui.js("window.scrollY") == 0
    assert atlas["y"] >= 0 and atlas["y"] + atlas["height"] <= VIEWPORT["height"], atlas
    ui.page.locator("#map").scroll_into_view_if_needed()
    box = ui.page.locator("#map").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box
    ui.js("window.scrollTo(0, 0)")
    clusters = sorted(c["cluster"] for c in atlas_summary(ui)["clusters"])
    numbers = ui.page.locator("#map .annotation-text").all_text_contents()
    assert sorted(int(n) for n in numbers) == clusters
    ui.tid("color-by").select_option("class")
    ui.idle()
    assert ui.page.locator("#map .annotation-text").count() == 0  # numbers are for the clusters' colours

    cell = max((c for c in atlas_summary(ui)["cells"] if c["score"] is not None), key=lambda c: c["count"])
    ui.page.mouse.move(*_plot_pixel(ui, "atlas-grid", *cell["centre"]))
    ui.tid("icon-score-meaning").wait_for()
    assert f"icon score {cell['score']:.2f}" in ui.text("preview")
    assert "fragment shown is to its cell's mean activation (cosine)" in ui.text("icon-score-meaning")
    ui.shot("first-screen")
    ui.check_errors()


def test_recent_changes_shows_every_entry_whole(ui: Ui) -> None:
    store = ui.server.store
    view = ui.server.project.view
    store.promote("ear", view.positions([0]), layer=view.layer, born_round=0, source={"kind": "lasso"})
    for i in range(14):  # long names: summaries of two lines and more
        store.rename("c1", f"the {i}th name of a concept with a rather long name, to wrap its summary")
    ui.js("window.articulate.reload()")
    ui.idle()
    entries = ui.page.locator("[data-testid='events'] > li")
    assert entries.count() == 15
    card = ui.page.locator(".events-card").bounding_box()
    listed = ui.page.locator("[data-testid='events']")
    assert listed.evaluate("e => e.scrollHeight <= e.clientHeight + 1")  # nothing hidden behind a scroll
    last = entries.last.bounding_box()
    assert last["y"] + last["height"] <= card["y"] + card["height"]
    assert "1 position" in entries.last.inner_text() and "positions" not in entries.last.inner_text()
    ui.check_errors()


# --- concept management ------------------------------------------------------------------------------------

def test_lasso_promote_then_add_a_cluster(ui: Ui) -> None:
    points = list(range(0, 120, 4))                      # what a lasso does, through the page's hook
    selection = ui.lasso(points)
    assert selection["kind"] == "lasso" and sorted(selection["points"]) == points
    assert ui.text("selection-size") == str(len(points))
    concept = ui.promote("lassoed")
    assert concept.source.get("kind") == "lasso"
    assert stored(concept.positives) == positions(ui.server, points)
    assert not concept.negatives
    ui.shot("lasso")

    cluster = ui.select_cluster(atlas_summary(ui)["clusters"][1]["cluster"])
    dropped = cluster["exemplars"][-1]["point"]
    ui.tid(f"exemplar-{dropped}").uncheck()
    assert ui.tid("add-to").input_value() == "" and ui.tid("add-button").is_disabled()  # no concept until chosen
    ui.tid("add-to").select_option(concept.id)
    ui.click("add-button")
    assert ui.status()[0] == "ok", ui.status()
    grown = ui.only()
    expected = positions(ui.server, points) | (positions(ui.server, cluster["points"])
                                               - positions(ui.server, [dropped]))
    assert stored(grown.positives) == expected
    assert positions(ui.server, [dropped]) <= stored(grown.negatives)
    assert f"{len(expected)} positions" in ui.text(f"concept-{concept.id}")
    # the classes its positions come from, most first, as the API counts them
    classes = ui.server.project.view.classes_of(grown.positives)
    assert ui.text(f"concept-classes-{concept.id}") == " · " + ", ".join(f"{w} {n}" for w, n in classes.items())
    ui.shot("added")
    ui.check_errors()


def test_a_mixed_cluster_cut_into_sub_clusters_and_one_promoted(ui: Ui) -> None:
    """The selection panel's Sub-clusters button lists the groups the layer tells apart; a click on one selects
    exactly its points, and promoting it names only them."""
    cluster = max(atlas_summary(ui)["clusters"], key=lambda c: c["size"])
    whole = ui.select_cluster(cluster["cluster"])
    ui.tid("subcluster-k").select_option("3")
    ui.click("subclusters")
    chips = ui.tid("subcluster-list").locator("button")
    assert chips.count() == 3, ui.status()
    served = ui.js("s => fetch('/api/selection/subclusters', {method: 'POST', headers: {'Content-Type': "
                   "'application/json'}, body: JSON.stringify({cluster: s, k: 3})}).then(r => r.json())",
                   cluster["cluster"])
    sizes = [p["size"] for p in served["pieces"]]
    assert sum(sizes) == len(whole["points"])
    assert chips.nth(1).inner_text().startswith(f"2: {sizes[1]} points")
    ui.shot("subclusters")
    ui.click("subcluster-1")
    piece = ui.js("window.articulate.selection")
    assert piece["kind"] == "lasso" and piece["points"] == sorted(served["pieces"][1]["points"])
    assert ui.text("selection-size") == str(sizes[1])
    assert ui.tid("subcluster-list").is_hidden()  # a new selection: its own sub-clusters are not listed yet
    concept = ui.promote("piece")
    assert stored(concept.positives) == positions(ui.server, piece["points"])
    ui.check_errors()


def test_the_unticked_exemplars_become_a_selection_to_name(ui: Ui) -> None:
    """Untick two exemplars, promote the rest; "Select the unticked" makes those two the selection, and they are
    named in turn (one promote: no untick needed)."""
    cluster = ui.select_cluster(atlas_summary(ui)["clusters"][0]["cluster"])
    assert ui.tid("select-unticked").is_disabled()
    dropped = [e["point"] for e in cluster["exemplars"][-2:]]
    for point in dropped:
        ui.tid(f"exemplar-{point}").uncheck()
    assert ui.tid("select-unticked").is_enabled()
    first = ui.promote("first")
    assert positions(ui.server, dropped) <= stored(first.negatives)
    ui.select_cluster(cluster["key"])
    for point in dropped:
        ui.tid(f"exemplar-{point}").uncheck()
    ui.click("select-unticked")
    chosen = ui.js("window.articulate.selection")
    assert chosen["kind"] == "lasso" and chosen["points"] == sorted(dropped)
    assert ui.text("selection-size") == "2" and ui.tid("select-unticked").is_disabled()
    second = ui.promote("second")
    assert stored(second.positives) == positions(ui.server, dropped) and not second.negatives
    ui.check_errors()


def test_merge_delete_undo(ui: Ui) -> None:
    clusters = atlas_summary(ui)["clusters"]
    a = ui.select_cluster(clusters[0]["cluster"])
    first = ui.promote("a")
    b = ui.select_cluster(clusters[1]["cluster"])
    second = ui.promote("b")
    assert ui.tid("merge").is_disabled()
    ui.tid(f"merge-check-{first.id}").check()
    ui.tid(f"merge-check-{second.id}").check()
    ui.tid("merge-name").fill("a and b")
    ui.click("merge")
    merged = ui.only()
    assert merged.id == first.id and merged.name == "a and b"
    assert stored(merged.positives) == positions(ui.server, a["points"]) | positions(ui.server, b["points"])
    assert concept_row_names(ui) == ["a and b"]
    assert ui.tid(f"concept-{second.id}").count() == 0
    ui.shot("merged")

    ui.click(f"concept-label-{first.id}")                 # select the concept's points, then delete it
    assert ui.js("window.articulate.selection.kind") == "concept"
    assert ui.text("selection-size") == str(len(a["points"]) + len(b["points"]))
    ui.click(f"delete-{first.id}")
    ui.click(f"delete-confirm-{first.id}")               # a delete asks first
    assert ui.concepts() == []
    assert ui.tid(f"concept-{first.id}").count() == 0
    assert ui.js("window.articulate.selection") is None   # the selection went with its concept
    assert "a and b" in ui.status()[1]
    ui.shot("deleted")

    ui.click("undo")
    assert [c.name for c in ui.concepts()] == ["a and b"]
    assert concept_row_names(ui) == ["a and b"]
    ui.check_errors()


def test_split_by_subclustering_and_by_lasso(ui: Ui) -> None:
    cluster = atlas_summary(ui)["clusters"][0]
    selection = ui.select_cluster(cluster["cluster"])
    concept = ui.promote("wall")
    whole = stored(concept.positives)
    ui.click(f"split-{concept.id}")                      # by sub-clustering (the server's labeling.split_k)
    assert ui.status()[0] == "ok", ui.status()
    parts = ui.concepts()
    assert len(parts) >= 2
    assert parts[0].id == concept.id and parts[0].name == "wall"
    assert {c.name for c in parts[1:]} == {f"wall ({i + 2})" for i in range(len(parts) - 1)}
    assert set().union(*(stored(c.positives) for c in parts)) == whole
    assert sum(len(stored(c.positives)) for c in parts) == len(whole)
    assert sorted(concept_row_names(ui)) == sorted(c.name for c in parts)
    ui.shot("split-k")

    ui.click("undo")
    assert [c.name for c in ui.concepts()] == ["wall"]
    moving = selection["points"][: len(selection["points"]) // 3]
    ui.lasso(moving)                                      # by lasso: those points become a new concept
    ui.tid("concept-name").fill("wall top")
    ui.click(f"split-selection-{concept.id}")
    assert ui.status()[0] == "ok", ui.status()
    by_name = {c.name: c for c in ui.concepts()}
    assert set(by_name) == {"wall", "wall top"}
    assert stored(by_name["wall top"].positives) == positions(ui.server, moving)
    assert stored(by_name["wall"].positives) == whole - positions(ui.server, moving)
    assert sorted(concept_row_names(ui)) == ["wall", "wall top"]
    ui.shot("split-lasso")
    ui.check_errors()


# --- conflicts, errors and escaping --------------------------------------------------------------------------

def test_conflict_shows_the_message_and_reloads(ui: Ui) -> None:
    ui.allowed.append(re.compile(r"status of 409"))
    ui.select_cluster(atlas_summary(ui)["clusters"][0]["cluster"])
    concept = ui.promote("ear")
    seen = ui.version()
    ui.server.store.rename(concept.id, "lobe")  # behind the page's back
    assert ui.version() == seen + 1
    assert concept_row_names(ui) == ["ear"]

    ui.click(f"rename-{concept.id}")
    ui.tid(f"rename-input-{concept.id}").fill("ear tip")
    ui.click(f"rename-save-{concept.id}")
    kind, message = ui.status()
    assert kind == "conflict", message
    assert ui.only().name == "lobe"                      # the page did not overwrite the other change
    assert concept_row_names(ui) == ["lobe"]              # and now shows it
    assert ui.text("store-version") == f"v{ui.version()}"
    assert str(ui.version()) in message
    ui.shot("conflict")

    ui.click(f"rename-{concept.id}")                      # acting again on the current store works
    ui.tid(f"rename-input-{concept.id}").fill("ear tip")
    ui.click(f"rename-save-{concept.id}")
    assert ui.status()[0] == "ok", ui.status()
    assert ui.only().name == "ear tip"
    ui.check_errors()


def test_error_answers_show_in_the_status(ui: Ui) -> None:
    ui.allowed.append(re.compile(r"status of 40[04]"))
    assert ui.tid("promote").is_hidden()                 # nothing selected: nothing to promote
    assert ui.js("window.articulate.selectPoints([10 ** 9])") is None   # 404: no such point
    ui.idle()
    kind, message = ui.status()
    assert kind == "error" and message, message

    ui.select_cluster(atlas_summary(ui)["clusters"][0]["cluster"])
    ui.promote("ear")
    version = ui.version()
    ui.tid("concept-name").fill("ear")                   # 400: the name is taken
    ui.click("promote")
    kind, message = ui.status()
    assert kind == "error" and "ear" in message, message
    assert ui.version() == version and [c.name for c in ui.concepts()] == ["ear"]
    ui.shot("error")
    ui.check_errors()


MARKUP = "<b>bold</b> <img src=x onerror=alert(1)>"


def test_markup_in_names_is_shown_literally(ui: Ui) -> None:
    ui.select_cluster(atlas_summary(ui)["clusters"][0]["cluster"])
    concept = ui.promote(MARKUP)
    assert ui.only().name == MARKUP
    row = ui.tid(f"concept-{concept.id}")
    assert MARKUP in row.inner_text()
    # no markup of the name (the preview's own pictures of drawings aside)
    assert ui.page.locator("[data-testid='concept-list'] b, [data-testid='concept-list'] img:not(.probe img)").count() == 0
    assert ui.page.locator("[data-testid='concept-list'] .probe img").count() > 0
    assert MARKUP in ui.text("status")
    assert ui.tid("status").locator("b, img").count() == 0
    options = ui.tid("add-to").locator("option").all_inner_texts()
    assert any(MARKUP in o for o in options)
    ui.page.get_by_test_id("events").get_by_text(MARKUP, exact=False).first.wait_for()
    assert ui.tid("events").locator("b, img").count() == 0
    ui.click(f"concept-label-{concept.id}")
    assert MARKUP in ui.text("selection-title")
    assert ui.tid("selection").locator("b").count() == 0
    ui.tid("color-by").select_option("concept")
    ui.idle()
    legend = ui.js("[...document.querySelectorAll('#map .legendtext')].map(t => t.textContent)")
    assert MARKUP in legend, legend                       # Plotly shows it as typed, not as bold text
    assert ui.page.locator("#map .legendtext [style*='bold']").count() == 0
    ui.shot("markup")
    ui.check_errors()
