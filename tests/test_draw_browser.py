"""The drawing coach's page (/draw) in a real browser: headless Chromium driven by Playwright against the app.

Each test opens /draw on a fresh server (the ``labeling_server`` fixture: a small real round-0 project with a
coach and an empty concept store), draws with the real mouse on the canvas, and checks what the page shows
against the coach's own answers and, when talking back, the concept store itself. No test may leave a
JavaScript error or a console error behind. Screenshots land in the test's ``tmp_path``.

Needs the system Chromium (``chromium`` on PATH); Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PageHelper, opened_page

pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")



def _circle(cx: float, cy: float, r: float, n: int = 20) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n)) for i in range(n + 1)]


# A cat's face, stroke by stroke, in drawing units (0..255).
CAT = [
    _circle(128, 140, 80),
    [(70, 90), (80, 30), (115, 68)],
    [(141, 68), (176, 30), (186, 90)],
    _circle(98, 125, 10, 10),
    _circle(158, 125, 10, 10),
    [(120, 155), (136, 155), (128, 165), (120, 155)],
    [(110, 160), (50, 150)],
    [(146, 160), (206, 150)],
]


# --- fixtures ------------------------------------------------------------------------------------------------

class Pad(PageHelper):
    """The /draw page of one test, its server, the feedback requests it sent, and what the browser complained
    about."""

    path = "/draw"
    idle_timeout_ms = 20_000

    def __init__(self, page: Any, server: Any, shots: Path) -> None:
        super().__init__(page, server, shots)
        self.feedback_sent = 0
        self.in_flight = 0
        self.most_in_flight = 0
        page.on("request", self._sent)
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)

    def _sent(self, request: Any) -> None:
        if request.url.endswith("/api/feedback"):
            self.feedback_sent += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _done(self, request: Any) -> None:
        if request.url.endswith("/api/feedback"):
            self.in_flight -= 1

    def to_px(self, x: float, y: float) -> tuple[float, float]:
        box = self.tid("canvas").bounding_box()
        return box["x"] + x / 256 * box["width"], box["y"] + y / 256 * box["height"]

    def draw(self, stroke: list[tuple[float, float]], pause_ms: int = 0) -> None:
        """One stroke with the real mouse (pausing between points if asked), then wait for its feedback."""
        self.page.mouse.move(*self.to_px(*stroke[0]))
        self.page.mouse.down()
        for point in stroke[1:]:
            self.page.mouse.move(*self.to_px(*point), steps=2)
            if pause_ms:
                self.page.wait_for_timeout(pause_ms)
        self.page.mouse.up()
        self.idle()

    def strokes(self) -> list[Any]:
        return self.js("window.articulate.strokes")

    def history(self) -> list[dict[str, Any]]:
        return self.js("window.articulate.history.map(e => ({stroke: e.stroke, answer: {...e.answer, maps: null}}))")

    def answer(self) -> dict[str, Any]:
        return self.js("window.articulate.answer")

    def timeline(self) -> list[str]:
        return self.tid("timeline").locator("li.tl-entry").evaluate_all("els => els.map(e => e.dataset.text)")

    def bar_levels(self) -> dict[str, float]:
        return self.tid("concept-bars").locator("li.cb").evaluate_all(
            "els => Object.fromEntries(els.map(e => [e.dataset.concept, Number(e.dataset.level)]))")

    def class_bars(self) -> list[str]:
        return self.tid("class-bars").locator("li.clb:not([hidden])").evaluate_all(
            "els => els.sort((a, b) => Number(a.style.order) - Number(b.style.order)).map(e => e.dataset.class)")

    def sentences(self) -> list[tuple[str, str]]:
        return [(item.get_attribute("data-kind") or "", item.inner_text())
                for item in self.tid("sentences").get_by_test_id("sentence").all()]

    def shot(self, name: str, least_bytes: int = 20_000) -> Path:
        return super().shot(name, least_bytes)


@pytest.fixture
def pad(browser: Any, labeling_server: Any, tmp_path: Path) -> Iterator[Pad]:
    labeling_server.project.coach()  # built once per test run (its canon), before the page waits for it
    with opened_page(browser, lambda page: Pad(page, labeling_server, tmp_path), 20_000, accept_downloads=True) as pad:
        yield pad


def coach_answer(server: Any, strokes: list[Any], target: str | None, before: dict | None, frame: int,
                 before_target: str | None = None) -> dict:
    """The coach's own answer for a frame (the page must show the same)."""
    answer = server.project.coach().answer(strokes, target, before, frame, before_target)
    answer.pop("maps")
    return answer


# --- tests ---------------------------------------------------------------------------------------------------

def test_strokes_get_feedback_bars_sentences_and_timeline(pad: Pad) -> None:
    concepts = [c.id for c in pad.server.project.coach().concepts]
    assert concepts, "the coach has no concepts"
    assert pad.answer() is None
    assert pad.timeline() == [] and pad.sentences()[0][0] == "invite"
    assert pad.tid("undo-stroke").is_disabled() and pad.tid("export").is_disabled()

    seen_levels = []
    for n, stroke in enumerate(CAT[:4], start=1):
        # the second stroke slowly: feedback while it is being drawn, never two requests at once
        pad.draw(stroke, pause_ms=170 if n == 2 else 0)
        strokes = pad.strokes()
        assert len(strokes) == n and pad.tid("stroke-count").inner_text() == str(n)
        assert all(isinstance(v, int) and 0 <= v <= 255 for s in strokes for row in s for v in row)
        answer, history = pad.answer(), pad.history()
        assert answer["strokes"] == n and answer["chosen"] == "model"
        assert [e["stroke"] for e in history] == list(range(1, n + 1))
        # the page chains the levels: each stroke is compared with the one before, as the coach would
        before = history[-2]["answer"]["levels"] if n > 1 else None
        before_target = history[-2]["answer"]["target"] if n > 1 else None
        expected = coach_answer(pad.server, strokes, None, before, n, before_target)
        assert history[-1]["answer"]["levels"] == pytest.approx(expected["levels"], abs=1e-3)
        assert history[-1]["answer"]["events"] == expected["events"]
        # class bars: the coach's top five, in order; concept bars: one per concept at the answer's levels
        assert pad.class_bars() == [c["name"] for c in expected["classes"]]
        assert pad.bar_levels() == pytest.approx(answer["levels"], abs=1e-6)
        assert set(pad.bar_levels()) == set(concepts)
        for cid in concepts:
            assert pad.tid(f"bar-{cid}").is_visible()
        # sentences: the coach's, by kind
        sentences = pad.sentences()
        assert sentences and all(kind in {"improved", "complete", "missing", "missing-more", "none", "unsure"}
                                 for kind, _ in sentences), sentences
        texts = " ".join(text for _, text in sentences)
        for s in expected["sentences"][:1]:
            assert s["text"].split(": ")[-1] in texts
        # the timeline: one line per stroke
        timeline = pad.timeline()
        assert len(timeline) == n and timeline[-1].startswith(f"stroke {n}:")
        assert pad.tid(f"timeline-{n}").is_visible()
        seen_levels.append(answer["levels"])
    assert any(a != b for a, b in zip(seen_levels, seen_levels[1:])), "the levels never changed between strokes"
    assert pad.feedback_sent > 4, "no feedback was asked while the slow stroke was drawn"
    assert pad.most_in_flight == 1, "more than one feedback request was in flight at once"
    assert pad.js("window.articulate.history.length") == 4  # in-stroke updates are not history
    chart = pad.tid("chart")
    assert chart.get_attribute("data-points") == "4" and chart.locator(".scatterlayer .trace").count() >= 1
    assert pad.tid("status").get_attribute("data-kind") == "info"
    pad.page.wait_for_timeout(500)  # the bars' and sentences' transitions
    pad.shot("cat-with-bars")


def test_undo_and_target(pad: Pad) -> None:
    for stroke in CAT[:3]:
        pad.draw(stroke)
    assert len(pad.timeline()) == 3
    pad.tid("undo-stroke").click()
    pad.idle()
    assert len(pad.strokes()) == 2 and len(pad.timeline()) == 2
    assert not pad.tid("timeline").get_by_test_id("timeline-3").count()
    assert pad.answer()["strokes"] == 2 and pad.tid("stroke-count").inner_text() == "2"

    pad.tid("target").select_option("cat")
    pad.idle()
    answer = pad.answer()
    assert answer["target"] == "cat" and answer["chosen"] == "person" and answer["strokes"] == 2
    history = pad.history()
    assert [e["stroke"] for e in history] == [1, 2]
    assert all(e["answer"]["target"] == "cat" for e in history)
    expected = coach_answer(pad.server, pad.strokes(), "cat", history[0]["answer"]["levels"], 2, "cat")
    assert answer["levels"] == pytest.approx(expected["levels"], abs=1e-3)
    assert "cat" in pad.tid("reading").inner_text()
    assert pad.tid("class-cat").get_attribute("class").split().count("target") == 1

    pad.draw(CAT[3])
    assert pad.answer()["target"] == "cat" and len(pad.timeline()) == 3
    pad.tid("target").select_option("")
    pad.idle()
    assert pad.answer()["chosen"] == "model" and len(pad.timeline()) == 3

    pad.tid("clear").click()
    pad.idle()
    assert pad.strokes() == [] and pad.timeline() == [] and pad.answer() is None
    assert pad.tid("undo-stroke").is_disabled()


def test_replay_ends_with_the_same_timeline_and_export_downloads_the_drawing(pad: Pad) -> None:
    for stroke in CAT[:4]:
        pad.draw(stroke)
    timeline = pad.timeline()
    levels = [e["answer"]["levels"] for e in pad.history()]
    sent = pad.feedback_sent

    pad.tid("replay").click()
    # while it runs: fewer strokes shown, the controls off, the timeline filling in again stroke by stroke
    pad.page.wait_for_function("window.articulate.replaying && window.articulate.shown < 4 "
                               "&& document.getElementById('undo-stroke').disabled "
                               "&& document.getElementById('target').disabled")
    pad.page.wait_for_function("window.articulate.replaying && "
                               "document.querySelectorAll('[data-testid=timeline] li.tl-entry').length === 2")
    pad.idle()
    assert pad.js("window.articulate.shown") == 4 and not pad.js("window.articulate.replaying")
    assert pad.timeline() == timeline
    assert [e["answer"]["levels"] for e in pad.history()] == levels
    assert pad.feedback_sent - sent == 4  # one request per stroke

    downloads: list[Any] = []
    pad.page.on("download", lambda download: downloads.append(download))
    pad.tid("export").click()
    pad.page.wait_for_timeout(100)
    deadline = 50
    while len(downloads) < 2 and deadline:
        pad.page.wait_for_timeout(100)
        deadline -= 1
    names = sorted(d.suggested_filename for d in downloads)
    key_id = pad.js("window.articulate.keyId")
    assert names == [f"{key_id}.events.json", f"{key_id}.ndjson"], names
    files = {d.suggested_filename: Path(d.path()).read_text() for d in downloads}
    lines = files[f"{key_id}.ndjson"].splitlines()
    assert len(lines) == 1
    drawing = json.loads(lines[0])
    assert drawing["key_id"] == key_id and drawing["drawing"] == pad.strokes()
    assert drawing["word"] == pad.history()[-1]["answer"]["target"]
    log = json.loads(files[f"{key_id}.events.json"])
    assert log["drawing"] == pad.strokes() and log["word"] == drawing["word"] and log["target"] is None
    assert [s["stroke"] for s in log["strokes"]] == [1, 2, 3, 4]
    assert [s["levels"] for s in log["strokes"]] == levels
    assert pad.status()[0] == "ok"


def test_hovering_a_bar_overlays_its_map(pad: Pad) -> None:
    for stroke in CAT[:3]:
        pad.draw(stroke)
    maps = pad.js("Object.keys(window.articulate.answer.maps)")
    assert maps, "the answer has no concept maps"
    painted = "() => { const c = document.querySelector('[data-testid=overlay]'); " \
              "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; " \
              "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1; return n; }"
    assert pad.js(painted) == 0
    pad.tid(f"bar-{maps[0]}").hover()
    assert pad.js("window.articulate.overlay") == maps[0]
    assert pad.js(painted) > 500
    pad.shot("overlay")
    pad.page.mouse.move(5, 5)
    assert pad.js("window.articulate.overlay") is None and pad.js(painted) == 0


def test_talk_back_writes_to_the_store(pad: Pad) -> None:
    for stroke in CAT[:4]:
        pad.draw(stroke)
    store = pad.server.store
    assert store.state().version == 0 and pad.tid("talkback").is_hidden()
    pad.tid("talk").click()
    assert pad.tid("talkback").is_visible() and pad.js("window.articulate.mode") == "talk"
    assert pad.tid("tb-is").is_disabled()

    # click on the left ear's line: that stroke and the cells it passes through
    pad.page.mouse.click(*pad.to_px(75, 60))
    pick = pad.js("window.articulate.pick")
    assert pick["kind"] == "stroke" and pick["stroke"] == 1 and pick["cells"]
    assert "stroke 2" in pad.tid("tb-selection").inner_text()
    pad.tid("tb-name").fill("ear")
    assert pad.tid("tb-is-not").is_disabled()  # a new concept starts from what it is
    pad.tid("tb-is").click()
    pad.idle()
    kind, message = pad.status()
    assert kind == "ok" and "ear" in message, message
    state = store.state()
    assert state.version == 1 and [c.name for c in state.concepts] == ["ear"]
    ear = state.concepts[0]
    assert pad.js("window.articulate.version") == 1
    assert pad.tid("tb-concept").input_value() == ear.id

    # drag a rectangle around the eyes: "this is not ear"
    pad.page.mouse.move(*pad.to_px(80, 105))
    pad.page.mouse.down()
    pad.page.mouse.move(*pad.to_px(175, 145), steps=4)
    pad.page.mouse.up()
    pick = pad.js("window.articulate.pick")
    assert pick["kind"] == "rect" and len(pick["cells"]) >= 4
    pad.shot("talk-back")
    pad.tid("tb-is-not").click()
    pad.idle()
    kind, message = pad.status()
    assert kind == "ok" and "is not" in message, message
    assert store.state().version == 2

    # a stale version: the store moved on elsewhere; the page says so, reloads the concepts, and the retry lands
    pad.allowed.append(re.compile(r"Failed to load resource.*409"))
    store.set_notes(ear.id, "pointy", expected_version=2, actor="elsewhere")
    pad.tid("tb-is").click()
    pad.idle()
    kind, message = pad.status()
    assert kind == "conflict" and "version 3" in message, message
    assert store.state().version == 3 and pad.js("window.articulate.version") == 3
    pad.tid("tb-is").click()
    pad.idle()
    assert pad.status()[0] == "ok" and store.state().version == 4


def test_errors_show_in_the_status_line(pad: Pad) -> None:
    pad.allowed.append(re.compile(r"Failed to load resource.*422"))
    pad.page.route("**/api/feedback", lambda route: route.fulfill(
        status=422, content_type="application/json", body=json.dumps({"error": "drawing: stroke 1 is odd"})))
    pad.draw(CAT[1])
    assert pad.status() == ("error", "drawing: stroke 1 is odd")
    assert pad.timeline() == []
    pad.page.unroute("**/api/feedback")
    pad.draw(CAT[2])
    assert pad.status()[0] == "info" and len(pad.timeline()) == 1


def test_the_pages_link_to_each_other(pad: Pad) -> None:
    assert pad.tid("atlas-link").get_attribute("href") == "/"
    html = pad.page.request.get(pad.server.url + "/").text()
    assert 'href="/draw"' in html and 'data-testid="draw-link"' in html


def test_the_page_shows_the_coach_being_prepared(browser: Any, labeling_project: Any, tmp_path: Path) -> None:
    """The coach is built when the server starts; until it is ready the page says so (GET /api/coach/status),
    then it is ready to draw. The coach here takes two seconds more to build than the project's cached one."""
    import threading
    import time

    from conceptstore.store import ConceptStore
    from labeling.app import create_app
    from tests.defaults import AppSettings
    from tests.conftest import RunningServer

    release = threading.Event()

    def slow_coach() -> Any:
        release.wait(60)  # held until the page has shown that it waits
        return labeling_project.coach()

    store = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    server = RunningServer(create_app(labeling_project.view, store, AppSettings(port=0), coach=slow_coach),
                           labeling_project, store)
    window = browser.new_context()
    try:
        page = window.new_page()
        page.goto(server.url + "/draw", wait_until="commit")
        page.wait_for_function("document.querySelector('[data-testid=status]').dataset.preparing === 'true'",
                               timeout=30_000)
        text = page.get_by_test_id("status").inner_text()
        assert text.startswith("Preparing the coach: loading the round's model") and " s;" in text, text
        assert page.evaluate("window.articulate.ready") is False
        time.sleep(0.6)
        release.set()
        page.wait_for_function("window.articulate && window.articulate.ready === true", timeout=60_000)
        assert page.get_by_test_id("status").get_attribute("data-preparing") is None
        assert "Preparing" not in page.get_by_test_id("status").inner_text()
    finally:
        release.set()
        window.close()
        server.stop()
