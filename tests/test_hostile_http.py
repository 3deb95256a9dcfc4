"""Hostile input against a real running labeling server (``articulate label`` in a process of its own, on the
round-0 test project): every request answers a 4xx (or its documented status) in the API's JSON error shape,
writes nothing it refused (the concept store, its event log and the drawings file keep their bytes), and leaves
no traceback in the server's log. Slow clients are cut off within the configured timeouts.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

#: The test server's timeouts (seconds), short so that the slow-client tests are quick.
HEADER_S, BODY_S = 2, 2
#: How much longer than its timeout a slow connection may stay open on a loaded machine.
SLACK_S = 20
BIG = 2**70  # beyond 64 bits: numpy would overflow on it
CAT = [[[10, 60, 110], [40, 20, 40]], [[30, 90], [80, 80]]]


@dataclass
class Server:
    """``articulate label`` running in a process of its own; ``log`` collects everything it prints."""

    process: subprocess.Popen
    port: int
    concepts: Path
    log: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request as given (no normalising of the path): status, headers, body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            payload = raw if raw is not None else None if body is None else json.dumps(body).encode()
            sent = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, path, body=payload, headers={**sent, **(headers or {})})
            answer = connection.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, _, data = self.request(method, path, body)
        assert status < 300, (status, data)
        return json.loads(data)

    def files(self) -> dict[str, bytes]:
        """The concept store's folder, file by file (its lock files aside)."""
        return {p.name: p.read_bytes() for p in sorted(self.concepts.parent.iterdir())
                if p.is_file() and not p.name.endswith(".lock")}

    def version(self) -> int:
        return int(self.json("GET", "/api/concepts")["version"])


@pytest.fixture(scope="module")
def server(labeling_project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The round-0 project served by ``articulate label`` with short timeouts, an empty concept store of its own,
    two concepts promoted ("ear", c1; "eye", c2) and the coach ready."""
    concepts = tmp_path_factory.mktemp("hostile") / "concepts" / "concepts.yaml"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    overrides = [o for o in labeling_project.overrides if not o.startswith("paths.concepts=")]
    process = subprocess.Popen(
        [sys.executable, "-m", "articulate.cli", "label", "--port", str(port), *overrides,
         f"paths.concepts={concepts}", f"labeling.timeouts.header_s={HEADER_S}",
         f"labeling.timeouts.body_s={BODY_S}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    running = Server(process, port, concepts)
    ready = threading.Event()

    def collect() -> None:
        for line in process.stdout:
            running.log.append(line)
            if f"127.0.0.1:{port}" in line:
                ready.set()

    threading.Thread(target=collect, daemon=True).start()
    try:
        assert ready.wait(180), f"the server did not start: {''.join(running.log)}"
        deadline = time.monotonic() + 300
        while True:  # the coach is built in the background from the start
            try:
                status = running.json("GET", "/api/coach/status")
            except (ConnectionError, OSError):
                status = {"state": "starting"}
            if status["state"] == "ready":
                break
            assert status["state"] in ("starting", "preparing") and time.monotonic() < deadline, status
            time.sleep(0.5)
        cluster = running.json("POST", "/api/selection", {"cluster": 0})
        for version, name in enumerate(("ear", "eye")):
            running.json("POST", "/api/concepts", {"name": name, "points": cluster["points"][20 * version:][:20],
                                                   "expected_version": version})
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _assert_refused(server: Server, method: str, path: str, body: Any, statuses: tuple[int, ...], words: str = "",
                    *, raw: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    """Send a request; it answers one of ``statuses`` with ``{"error": ...}`` (holding ``words``), the store's
    files keep their bytes, and the server logged no traceback meanwhile."""
    before, logged = server.files(), len(server.log)
    status, answer_headers, data = server.request(method, path, body, raw=raw, headers=headers)
    assert status in statuses, (status, data[:300])
    assert answer_headers.get("content-type", "").startswith("application/json"), (answer_headers, data[:200])
    answer = json.loads(data)
    assert isinstance(answer.get("error"), str) and answer["error"], answer
    assert words.lower() in answer["error"].lower(), answer
    time.sleep(0.05)  # the log line of an error, if any, is written as the answer goes out
    assert server.files() == before, "a refused request changed the concept store's files"
    new = "".join(server.log[logged:])
    assert "Traceback" not in new and "Internal Server Error" not in new, new
    return answer


# --- file paths -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/atlas/atlas.json%00",
    "/atlas/" + "a" * 300,
    "/atlas/" + "/".join(["b" * 250] * 8),
    "/atlas/%2e%2e/%2e%2e/etc/passwd",
    "/atlas/..%2f..%2fconcepts/concepts.yaml",
    "/atlas/x%0ay.png",
    "/atlas/%ED%A0%80.png",
    "/atlas/%5c..%5c..%5cetc%5cpasswd",
    "/static/%00.js",
    "/static/" + "c" * 300 + ".js",
    "/static/..%2f..%2fapp.py",
    "/static/js/%2e%2e/%2e%2e/routes/files.py",
])
def test_a_hostile_file_path_answers_404(server: Server, path: str) -> None:
    _assert_refused(server, "GET", path, None, (404,), "no ")


# --- point ids and other indices ----------------------------------------------------------------------------

@pytest.mark.parametrize("path, statuses", [
    ("/api/patch/99999999999999999999.png", (404,)),
    ("/api/sketch/99999999999999999999.png", (404,)),
    ("/api/patch/-1.png", (404,)),
    ("/api/patch/1e3.png", (400,)),
    ("/api/patch/" + "9" * 5000 + ".png", (400, 404)),
    ("/api/events?limit=99999999999999999999", (400,)),
    ("/api/jobs/" + "9" * 300, (404,)),
])
def test_a_hostile_id_in_a_path_answers_4xx(server: Server, path: str, statuses: tuple[int, ...]) -> None:
    _assert_refused(server, "GET", path, None, statuses)


def _with_version(server: Server, body: dict) -> dict:
    return {**body, "expected_version": server.version()}


@pytest.mark.parametrize("path, body, words", [
    ("/api/selection", {"points": [BIG]}, "points"),
    ("/api/selection", {"points": [True]}, "points"),
    ("/api/selection", {"points": ["1"]}, "points"),
    ("/api/selection", {"points": [1.5]}, "points"),
    ("/api/selection", {"cluster": BIG}, "cluster"),
    ("/api/selection", {"cell": -BIG}, "cell"),
    ("/api/selection", {"cluster": "0"}, "cluster"),
    ("/api/selection/subclusters", {"points": [BIG, 1]}, "points"),
    ("/api/layer", {"point": BIG}, "point"),
    ("/api/edit", {"point": BIG, "edits": [{"channel": 1}]}, "point"),
    ("/api/edit", {"strokes": CAT, "edits": [{"channel": BIG}]}, "channel"),
    ("/api/edit", {"strokes": CAT, "edits": [{"channel": 1, "cells": [[BIG, 0]]}]}, "cells"),
    ("/api/edit", {"strokes": CAT, "edits": [{"channel": 1, "shift": [BIG, 0]}]}, "shift"),
    ("/api/dream", {"point": BIG}, "point"),
    ("/api/dream", {"strokes": CAT, "cluster": BIG}, "cluster"),
    ("/api/visualize", {"channel": BIG}, "channel"),
    ("/api/feedback", {"strokes": CAT, "frame": BIG}, "frame"),
])
def test_an_index_beyond_bounds_answers_400(server: Server, path: str, body: dict, words: str) -> None:
    _assert_refused(server, "POST", path, body, (400,), words)


@pytest.mark.parametrize("path, body", [
    ("/api/concepts", {"name": "tail", "points": [BIG]}),
    ("/api/concepts", {"name": "tail", "points": [1], "unticked": [BIG]}),
    ("/api/concepts/c1/add", {"points": [BIG]}),
    ("/api/concepts/c1/split", {"points": [2**64]}),
    ("/api/concepts", {"name": "tail", "points": [1], "source": {"kind": "cluster", "cluster": BIG}}),
])
def test_a_write_naming_an_index_beyond_bounds_writes_nothing(server: Server, path: str, body: dict) -> None:
    _assert_refused(server, "POST", path, _with_version(server, body), (400,))


@pytest.mark.parametrize("body, words", [
    ({"strokes": CAT, "concept": "ear\x00"}, "concept"),
    ({"strokes": CAT, "concept": "\ud800ear"}, ""),
    ({"strokes": CAT, "concept": "x" * 201}, "concept"),
    ({"strokes": CAT, "concept": "ear", "target": "ca\x00t"}, ""),
    ({"strokes": [[[BIG], [1]]], "concept": "ear"}, ""),
])
def test_show_me_refuses_a_hostile_concept_class_or_drawing(server: Server, body: dict, words: str) -> None:
    _assert_refused(server, "POST", "/api/showme", body, (400, 404, 422), words)


def test_a_version_beyond_bounds_answers_400(server: Server) -> None:
    _assert_refused(server, "POST", "/api/undo", {"expected_version": BIG}, (400,), "expected_version")
    _assert_refused(server, "DELETE", "/api/concepts/c1?expected_version=99999999999999999999", None, (400,))


# --- names --------------------------------------------------------------------------------------------------

BAD_NAMES = {
    "lone surrogate": ("\ud800ear", "surrogate"),
    "right-to-left override": ("ear\u202egnp.exe", "U+202E"),
    "zero-width space": ("e\u200bar", "U+200B"),
    "bidi isolate": ("\u2066ear", "U+2066"),
    "byte-order mark": ("\ufeffear", "U+FEFF"),
    "line separator": ("ear\u2028tail", "U+2028"),
    "control character": ("ear\x07", "U+0007"),
    "too long": ("x" * 81, "at most 80"),
    "an id": ("c12", "concept ids"),
}


#: Every kind for promote and rename; the first six for the writes that take a name besides (the same check).
NAMED_WRITES = [(write, kind) for write in ("promote", "rename") for kind in BAD_NAMES] + [
    (write, kind) for write in ("merge", "split", "drawn") for kind in list(BAD_NAMES)[:6]]


@pytest.mark.parametrize("write, kind", NAMED_WRITES)
def test_a_bad_name_is_refused_by_every_write(server: Server, write: str, kind: str) -> None:
    name, words = BAD_NAMES[kind]
    path, body = {
        "promote": ("/api/concepts", {"name": name, "points": [1, 2, 3]}),
        "rename": ("/api/concepts/c1/rename", {"name": name}),
        "merge": ("/api/concepts/merge", {"ids": ["c1", "c2"], "name": name}),
        "split": ("/api/concepts/c1/split", {"points": [], "name": name}),
        "drawn": ("/api/drawn", {"strokes": CAT, "word": "cat", "cells": [[3, 3]], "name": name}),
    }[write]
    if write == "split":  # a split needs points of the concept
        body["points"] = server.json("GET", "/api/concepts")["concepts"][0]["points"][:2]
    _assert_refused(server, "POST", path, _with_version(server, body), (400, 422), words)


def test_notes_with_a_lone_surrogate_are_refused(server: Server) -> None:
    _assert_refused(server, "POST", "/api/concepts/c1/notes", _with_version(server, {"notes": "a\ud800b"}), (400,),
                    "notes")


def test_a_name_is_kept_in_its_composed_form(server: Server, tmp_path: Path) -> None:
    """NFC: a name typed as 'e' plus a combining accent is stored as 'é' (and 'é' is then taken)."""
    answer = server.json("POST", "/api/concepts", _with_version(server, {"name": "oreille\u0301", "points": [5, 6]}))
    named = [c["name"] for c in answer["concepts"]]
    assert "oreillé" in named and "oreille\u0301" not in named
    _assert_refused(server, "POST", "/api/concepts", _with_version(server, {"name": "oreillé", "points": [7]}), (400,),
                    "already a concept")


# --- drawings -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, body", [
    ("/api/feedback", {"strokes": [[["10"], [20]]]}),
    ("/api/feedback", {"strokes": [[[True], [20]]]}),
    ("/api/feedback", {"strokes": [[[None], [20]]]}),
    ("/api/feedback", {"strokes": [[[[1]], [20]]]}),
    ("/api/feedback", {"strokes": [[{"x": 1}, [20]]]}),
    ("/api/layer", {"strokes": [[[10, "20"], [20, 30]]]}),
    ("/api/edit", {"strokes": [[[False], [20]]], "edits": [{"channel": 1}]}),
    ("/api/dream", {"strokes": [[["1e3"], [20]]]}),
    ("/api/drawn", {"strokes": [[["1"], [2]]], "word": "cat", "cells": [[1, 1]], "concept": "c1"}),
])
def test_coordinates_must_be_numbers(server: Server, path: str, body: dict) -> None:
    if path == "/api/drawn":
        body = _with_version(server, body)
    _assert_refused(server, "POST", path, body, (400,), "strokes")


@pytest.mark.parametrize("raw", [b'{"strokes": [[[NaN], [3]]]}', b'{"strokes": [[[Infinity], [3]]]}',
                                 b'{"strokes": [[[1e999], [3]]]}'])
def test_coordinates_must_be_finite(server: Server, raw: bytes) -> None:
    _assert_refused(server, "POST", "/api/feedback", None, (422,), "not finite", raw=raw)


@pytest.mark.parametrize("change, status, words", [
    ({"expected_version": 0}, 409, "changed"),
    ({"concept": "nosuch"}, 404, "no concept"),
    ({"concept": None, "name": "ear"}, 400, "already a concept"),
    ({"concept": None, "name": "ear\u202e"}, 400, "U+202E"),
    ({"word": "zebra"}, 422, "not a class"),
    ({"cells": [[99, 0]]}, 422, "outside"),
    ({"strokes": []}, 422, "empty drawing"),
    ({"name": "tail"}, 422, "either concept"),
])
def test_a_refused_drawing_leaves_no_drawing_behind(server: Server, change: dict, status: int, words: str) -> None:
    """``/api/drawn`` keeps the drawing only with the change it is for: refused, the drawings file is untouched."""
    body = _with_version(server, {"strokes": CAT, "word": "cat", "cells": [[3, 3], [3, 4]], "concept": "c1"})
    _assert_refused(server, "POST", "/api/drawn", {**body, **change}, (status,), words)


def test_an_accepted_drawing_is_kept_with_its_change(server: Server) -> None:
    body = _with_version(server, {"strokes": [[[5, 200], [5, 200]]], "word": "cat", "cells": [[2, 2]],
                                  "concept": "c1"})
    answer = server.json("POST", "/api/drawn", body)
    kept = (server.concepts.parent / "drawings.ndjson").read_text()
    assert answer["changed"] == ["c1"] and kept.count("\n") >= 1 and '"word": "cat"' in kept


# --- limits -------------------------------------------------------------------------------------------------

def test_the_limits_the_pages_read_are_the_ones_the_server_checks(server: Server) -> None:
    limits = server.json("GET", "/api/limits")
    octaves = limits["dream_octaves"]["max"]
    assert octaves == 5 and limits["edits"] == {"min": 1, "max": 64}  # a 64-pixel input: 5 octaves of 1.4
    job = server.json("POST", "/api/dream", {"strokes": CAT, "octaves": octaves, "steps": 1})
    assert job["status"] in ("queued", "running", "done")
    _assert_refused(server, "POST", "/api/dream", {"strokes": CAT, "octaves": octaves + 1}, (400,),
                    f"outside 1..{octaves}")


@pytest.mark.parametrize("path, body, words", [
    ("/api/dream", {"strokes": CAT, "octaves": 6}, "octaves"),
    ("/api/dream", {"strokes": CAT, "octaves": 0}, "octaves"),
    ("/api/dream", {"strokes": CAT, "octaves": "3"}, "octaves"),
    ("/api/dream", {"strokes": CAT, "steps": 101}, "steps"),
    ("/api/dream", {"strokes": CAT, "lr": "0.1"}, "lr"),
    ("/api/visualize", {"channel": 1, "steps": 15}, "steps"),
    ("/api/visualize", {"channel": 1, "steps": 513}, "steps"),
    ("/api/edit", {"strokes": CAT, "edits": [{"channel": 1}] * 65}, "edits"),
    ("/api/edit", {"strokes": CAT, "edits": []}, "edits"),
    ("/api/edit", {"strokes": CAT, "edits": [{"channel": 1, "factor": 101}]}, "factor"),
    ("/api/edit", {"strokes": CAT, "edits": [{"channel": 1, "factor": "3"}]}, "factor"),
    ("/api/edit", {"strokes": CAT, "edits": [{"channel": 1, "factor": True}]}, "factor"),
    ("/api/edit", {"strokes": CAT, "edits": [{"all": True, "rotate": 361}]}, "rotate"),
    ("/api/layer", {"strokes": CAT, "channels": 5000}, "channels"),
])
def test_a_request_beyond_its_limits_answers_400(server: Server, path: str, body: dict, words: str) -> None:
    _assert_refused(server, "POST", path, body, (400,), words)


# --- bodies and the protocol --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, words", [
    (b"{", "json"),
    (b"[1, 2]", ""),
    (b'"text"', ""),
    (b"\xff\xfe{}", ""),
    (b"[" * 100_000 + b"]" * 100_000, ""),
    (b'{"points": [' + b"9" * 5000 + b"]}", ""),
    (b'{"points": [1], "points": "x"}', "points"),
])
def test_a_malformed_body_answers_400(server: Server, raw: bytes, words: str) -> None:
    _assert_refused(server, "POST", "/api/selection", None, (400, 413), words, raw=raw)


def test_an_oversized_body_answers_413(server: Server) -> None:
    _assert_refused(server, "POST", "/api/selection", None, (413,), "too large",
                    raw=json.dumps({"points": list(range(300_000))}).encode())


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"NOT HTTP AT ALL\r\n\r\n",
])
def test_a_request_that_is_not_http_answers_json_400(server: Server, head: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head)
        answer = _read_all(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 400 " in status_line and b"application/json" in rest.lower(), answer[:300]
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["error"].startswith("not a valid HTTP request")


def test_a_request_head_over_its_limit_answers_json_400(server: Server) -> None:
    """Headers that go on past ``max_header_bytes`` (64 KiB) are cut off with a 400; they are sent a piece at a time,
    and no more once the server has answered (sending on would reset the connection before the answer is read)."""
    import select

    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        for _ in range(40):  # up to 320 KiB
            if select.select([sock], [], [], 0.05)[0]:
                break
            sock.sendall(b"a" * 8192)
        answer = _read_all(sock)
    assert b" 400 " in answer.partition(b"\r\n")[0], answer[:300]
    assert "not a valid HTTP request" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_body_shorter_than_its_content_length_is_cut_off(server: Server) -> None:
    """A client that promises 100 bytes and sends 10 gets a 408 and its connection closed, within ``body_s``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=BODY_S + SLACK_S) as sock:
        start = time.monotonic()
        sock.sendall(b"POST /api/selection HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"points\":")
        answer = _read_all(sock)  # the server closes: recv returns b"" (a socket timeout fails the test)
        took = time.monotonic() - start
    assert b" 408 " in answer.partition(b"\r\n")[0], answer[:200]
    assert "did not all arrive" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    assert BODY_S - 0.5 <= took < BODY_S + SLACK_S


def test_slow_headers_do_not_hold_connections(server: Server) -> None:
    """50 connections that send half a request head, and 10 that send nothing, are all closed after ``header_s``;
    the server still answers meanwhile."""
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=HEADER_S + SLACK_S) for _ in range(60)]
    try:
        for sock in socks[:50]:
            sock.sendall(b"GET /api/atlas HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert server.request("GET", "/api/concepts")[0] == 200
        for sock in socks:
            assert _read_all(sock) == b""  # closed without an answer
    finally:
        for sock in socks:
            sock.close()


# --- the last line of defence -------------------------------------------------------------------------------

def test_an_unexpected_error_answers_json_500_with_an_error_id(labeling_project, tmp_path: Path) -> None:
    """A fault no route expects (here the concept store's file replaced by a folder) answers 500 with the error
    shape and an error id; the traceback goes to the log under that id, never into the answer."""
    import logging

    import httpx

    from conceptstore.store import ConceptStore
    from labeling.app import create_app
    from tests.defaults import AppSettings
    from tests.conftest import RunningServer

    store = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    app = create_app(labeling_project.view, store, AppSettings(port=0))
    running = RunningServer(app, labeling_project, store)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store.path.mkdir()
        answer = httpx.get(f"{running.url}/api/concepts", timeout=60)
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)
        running.stop()
    body = answer.json()
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert body["error_id"] in body["error"] and "Traceback" not in answer.text and "Error" not in body["error"]
    logged = [r for r in records if body["error_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None


# --- token mode ---------------------------------------------------------------------------------------------

def test_token_mode_keeps_static_files_public_and_the_api_closed(labeling_project, tmp_path: Path) -> None:
    import httpx

    from conceptstore.store import ConceptStore
    from labeling.app import create_app
    from tests.defaults import AppSettings
    from tests.conftest import RunningServer

    token = "t" * 32
    store = ConceptStore(tmp_path / "concepts" / "concepts.yaml")
    app = create_app(labeling_project.view, store, AppSettings(port=0, token=token))
    running = RunningServer(app, labeling_project, store)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as client:
            for path in ("/static/vendor/plotly-articulate.min.js", "/static/app.css", "/static/js/shared/api.js"):
                assert client.get(path).status_code == 200, path
            for path in ("/api/atlas", "/", "/atlas/atlas.json", "/api/limits"):
                closed = client.get(path)
                assert closed.status_code == 401 and "access token" in closed.json()["error"], path
            assert client.get("/api/atlas", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert client.get("/api/atlas", params={"token": token[:-1]}).status_code == 401
    finally:
        running.stop()


@pytest.mark.parametrize("token", ["a", "short-token", "x" * 15, "t" * 20 + " ", "t" * 20 + "\u00e9"])
def test_a_weak_token_is_refused_at_start(token: str) -> None:
    from tests.defaults import AppSettings
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="labeling.token"):
        AppSettings(port=0, token=token)
