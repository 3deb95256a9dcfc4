"""The Review card in a real browser: the queue's one-click fix changes the store (one event, and Undo reverts
it), and a suggestion's Look selects its points."""

from __future__ import annotations

import pytest

from tests.test_labeling_browser import Ui, ui  # noqa: F401 - ui: the page on the round-0 server, as a fixture

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")


def _guides(ui: Ui) -> None:
    """Ask the page for the queue and the suggestions again (its Refresh button) and wait for the answer."""
    ui.click("review-refresh")
    ui.page.wait_for_function("window.articulate.review !== null && window.articulate.idle", timeout=120_000)


def test_the_queue_fix_changes_the_store_and_undo_reverts_it(ui: Ui) -> None:
    view, store = ui.server.project.view, ui.server.store
    for name, cluster in (("wheel", 0), ("wheels", 1)):  # one part promoted under two names, outside the page
        store.promote(name, view.positions(view.select(cluster=cluster).points), layer=view.layer, born_round=0,
                      source={"kind": "cluster", "cluster": cluster, "round": 0})
    ui.js("window.articulate.reload()")
    ui.idle()
    _guides(ui)
    items = ui.js("window.articulate.review.items")
    index = next(i for i, item in enumerate(items) if item["kind"] == "pair")
    row = ui.tid(f"review-item-{index}")
    assert "wheel" in row.inner_text() and "wheels" in row.inner_text()
    button = ui.tid(f"review-fix-{index}")
    assert button.inner_text().startswith("Merge")
    events = len(store.events())
    button.click()
    ui.page.wait_for_function("window.articulate.version === 3 && window.articulate.idle", timeout=120_000)
    assert len(store.events()) == events + 1 and store.events()[-1]["op"] == "merge"
    assert len(store.state().concepts) == 1 and ui.js("window.articulate.concepts.length") == 1
    kind, message = ui.status()
    assert kind == "ok" and "Undo" in message, message
    # the queue was asked again: the merged pair is gone from it
    assert not [i for i in ui.js("window.articulate.review.items") if i["kind"] == "pair"]
    ui.shot("review-after-merge")
    ui.click("undo")
    assert len(store.state().concepts) == 2 and store.events()[-1]["op"] == "undo"
    ui.check_errors()


def test_a_suggestion_look_selects_its_points(ui: Ui) -> None:
    _guides(ui)
    suggestion = ui.js("window.articulate.suggestions.items[0]")
    assert suggestion["kind"] == "region"  # nothing named yet: the unnamed regions
    ui.click("suggestion-look-0")
    selection = ui.js("window.articulate.selection")
    assert selection["kind"] == "lasso" and selection["points"] == sorted(suggestion["points"])
    ui.check_errors()
