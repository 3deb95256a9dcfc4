"""The concept preview in a real browser: after a promote (and an add), the panel beside the concept shows the
probe's agreement, how many points it would claim, and strips of its surest and borderline exemplars in context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import opened_page
from tests.test_labeling_browser import Ui, atlas_summary

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")


@pytest.fixture
def ui(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Ui]:
    with opened_page(browser, lambda page: Ui(page, labeling_server, tmp_path), 15_000) as ui:
        yield ui


def test_the_preview_appears_after_a_promote_and_an_add(ui: Ui) -> None:
    clusters = atlas_summary(ui)["clusters"]
    ui.select_cluster(clusters[0]["cluster"])
    concept = ui.promote("thing")
    panel = ui.tid(f"probe-{concept.id}")
    panel.wait_for()
    ui.idle()
    answer = ui.js(f"fetch('/api/concepts/{concept.id}/preview').then(r => r.json())")
    summary = ui.text(f"probe-summary-{concept.id}")
    assert f"{round(answer['agreement'] * 100)}%" in summary, summary
    assert f"{answer['claimed']} point" in summary and int(panel.get_attribute("data-claimed")) == answer["claimed"]
    shown = ui.tid(f"probe-borderline-{concept.id}").locator("img")
    assert shown.count() == len(answer["borderline"]) > 0
    if answer["surest"]:
        assert ui.tid(f"probe-surest-{concept.id}").locator("img").count() == len(answer["surest"])
    # every picture of the strips loaded (drawn in context by the sketch route)
    ui.page.wait_for_function("[...document.querySelectorAll('.probe img')].every(i => i.complete && i.naturalWidth > 0)",
                              timeout=60_000)
    ui.shot("preview-after-promote")

    # an add refreshes it: fitted on more positives now
    before = ui.page.locator(".probe-trained").inner_text()
    ui.select_cluster(clusters[1]["cluster"])
    ui.tid("add-to").select_option(concept.id)
    ui.click("add-button")
    ui.tid(f"probe-{concept.id}").wait_for()
    ui.idle()
    assert ui.page.locator(".probe-trained").inner_text() != before
    ui.click(f"probe-close-{concept.id}")
    assert ui.page.locator(".probe").count() == 0
    ui.check_errors()
