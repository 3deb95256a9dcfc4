"""`articulate data fetch quickdraw`: downloads from a local server that behaves like Google Cloud Storage (Range,
x-goog-hash), serving the shared Quick, Draw! samples. No test reaches the network."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import shlex
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from articulate.cli import EXIT_USER_ERROR, main
from pipeline.data.fetch import LOCK_NAME, categories
from tests.conftest import QUICKDRAW, ROOT

SAMPLES = QUICKDRAW / "ndjson"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the Quick, Draw! samples are not at {SAMPLES}")


@dataclass
class Bucket:
    """What the server serves and how it misbehaves; what it was asked.

    Attributes:
        files: Class name -> the file's bytes.
        drop: Classes whose next answer breaks off after half the bytes it promised (one use each).
        lie: Classes whose declared md5 is wrong.
        requests: (class, Range header or None) of every GET, in order.
    """

    files: dict[str, bytes]
    drop: set[str] = field(default_factory=set)
    lie: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    bucket: Bucket

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        name = urllib.parse.unquote(self.path.removeprefix("/simplified/").removesuffix(".ndjson"))
        self.bucket.requests.append((name, self.headers.get("Range")))
        data = self.bucket.files.get(name)
        if data is None or not self.path.startswith("/simplified/"):
            self.send_error(404)
            return
        md5 = base64.b64encode(hashlib.md5(b"lie" if name in self.bucket.lie else data).digest()).decode()
        start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-")) if self.headers.get("Range") else 0
        if start >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-goog-hash", "crc32c=n03x6A==")  # two headers, as Cloud Storage sends them
        self.send_header("x-goog-hash", f"md5={md5}")
        self.end_headers()
        if name in self.bucket.drop:
            self.bucket.drop.discard(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def bucket() -> Iterator[tuple[Bucket, str]]:
    """A server on 127.0.0.1 with three classes (one with a space in its name); yields it and its URL."""
    files = {name: (SAMPLES / f"{name}.ndjson").read_bytes() for name in ("apple", "alarm clock", "star")}
    state = Bucket(files)
    handler = type("Handler", (_Handler,), {"bucket": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/simplified"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def _fetch(url: str, dest: Path, *words: str) -> int:
    return main(["data", "fetch", "quickdraw", *words, f"fetch.quickdraw_url={url}",
                 f"paths.quickdraw_fetched={dest}"])


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_two_classes_are_downloaded_checked_and_recorded(bucket: tuple[Bucket, str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    state, url = bucket
    assert _fetch(url, tmp_path / "qd", "apple", "Alarm_Clock") == 0  # loose spelling: the category's own name
    folder = tmp_path / "qd" / "ndjson"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "alarm clock.ndjson", "apple.ndjson", LOCK_NAME]
    lock = json.loads((folder / LOCK_NAME).read_text())["files"]
    for name in ("apple", "alarm clock"):
        written = (folder / f"{name}.ndjson").read_bytes()
        assert written == state.files[name]
        assert lock[f"{name}.ndjson"]["sha256"] == hashlib.sha256(written).hexdigest()
        assert lock[f"{name}.ndjson"]["bytes"] == len(written)
    assert lock["alarm clock.ndjson"]["url"] == f"{url}/alarm%20clock.ndjson"  # the space URL-quoted
    assert state.requests == [("apple", None), ("alarm clock", None)]
    out = capsys.readouterr().out
    assert "apple: downloaded" in out and "md5 and size checked" in out


def test_a_second_run_downloads_nothing(bucket: tuple[Bucket, str], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    state, url = bucket
    assert _fetch(url, tmp_path / "qd", "apple", "star") == 0
    state.requests.clear()
    capsys.readouterr()
    assert _fetch(url, tmp_path / "qd", "star", "apple") == 0
    assert state.requests == []
    out = capsys.readouterr().out
    assert "star: already fetched" in out and "apple: already fetched" in out


def test_a_file_no_fetch_recorded_is_left_as_it_is(bucket: tuple[Bucket, str], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A class file copied into the folder by hand is neither overwritten nor taken for a fetched one."""
    state, url = bucket
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "star.ndjson").write_bytes(b"my own\n")
    assert main(["data", "fetch", "quickdraw", "--to", str(folder), "star", "apple",
                 f"fetch.quickdraw_url={url}"]) == 0
    assert (folder / "star.ndjson").read_bytes() == b"my own\n"
    assert state.requests == [("apple", None)]
    assert "star.ndjson" not in json.loads((folder / LOCK_NAME).read_text())["files"]
    out = capsys.readouterr().out
    assert "no fetch recorded it: kept as it is" in out
    assert f"data.source.folder={folder}" in out.strip().splitlines()[-1]  # --to: the hint points at that folder


def test_a_dropped_connection_is_resumed_in_the_same_run(bucket: tuple[Bucket, str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    state, url = bucket
    state.drop.add("apple")
    assert _fetch(url, tmp_path / "qd", "apple") == 0
    half = len(state.files["apple"]) // 2
    assert state.requests == [("apple", None), ("apple", f"bytes={half}-")]
    assert (tmp_path / "qd" / "ndjson" / "apple.ndjson").read_bytes() == state.files["apple"]
    assert f"apple: the download stopped at {half} bytes" in capsys.readouterr().out


def test_an_interrupted_download_continues_in_the_next_run(bucket: tuple[Bucket, str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    state, url = bucket
    state.drop.add("alarm clock")
    folder = tmp_path / "qd" / "ndjson"
    assert _fetch(url, tmp_path / "qd", "alarm clock", "fetch.retries=0") == EXIT_USER_ERROR
    line = _one_error_line(capsys.readouterr().err)
    half = len(state.files["alarm clock"]) // 2
    assert f"stopped at {half} bytes" in line and "run the command again to resume" in line
    assert not (folder / "alarm clock.ndjson").exists()
    assert (folder / "alarm clock.ndjson.part").read_bytes() == state.files["alarm clock"][:half]

    assert _fetch(url, tmp_path / "qd", "alarm clock") == 0
    assert state.requests[-1] == ("alarm clock", f"bytes={half}-")
    assert (folder / "alarm clock.ndjson").read_bytes() == state.files["alarm clock"]
    assert not (folder / "alarm clock.ndjson.part").exists()
    lock = json.loads((folder / LOCK_NAME).read_text())["files"]
    assert lock["alarm clock.ndjson"]["sha256"] == hashlib.sha256(state.files["alarm clock"]).hexdigest()


def test_a_part_the_server_cannot_continue_is_fetched_again(bucket: tuple[Bucket, str], tmp_path: Path) -> None:
    state, url = bucket
    folder = tmp_path / "qd" / "ndjson"
    folder.mkdir(parents=True)
    (folder / "star.ndjson.part").write_bytes(state.files["star"] + b"junk")  # longer than the file: 416
    assert _fetch(url, tmp_path / "qd", "star") == 0
    assert [r for _, r in state.requests] == [f"bytes={len(state.files['star']) + 4}-", None]
    assert (folder / "star.ndjson").read_bytes() == state.files["star"]


def test_a_bad_checksum_leaves_nothing(bucket: tuple[Bucket, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    state, url = bucket
    state.lie.add("apple")
    assert _fetch(url, tmp_path / "qd", "star", "apple") == EXIT_USER_ERROR
    line = _one_error_line(capsys.readouterr().err)
    assert "'apple': checksum mismatch" in line and "removed apple.ndjson.part" in line
    folder = tmp_path / "qd" / "ndjson"
    assert not (folder / "apple.ndjson").exists() and not (folder / "apple.ndjson.part").exists()
    assert (folder / "star.ndjson").read_bytes() == state.files["star"]  # the class before it stays fetched
    assert "apple.ndjson" not in json.loads((folder / LOCK_NAME).read_text())["files"]


def test_offline_is_one_line_with_a_user_error_status(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    completed = subprocess.run(
        [sys.executable, "-m", "articulate.cli", "data", "fetch", "quickdraw", "apple",
         f"fetch.quickdraw_url=http://127.0.0.1:{port}/simplified", f"paths.quickdraw_fetched={tmp_path / 'qd'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == EXIT_USER_ERROR, completed.stderr
    line = _one_error_line(completed.stderr)
    assert f"cannot reach 127.0.0.1:{port}" in line and "offline?" in line and "ndjson" in line
    assert not list((tmp_path / "qd" / "ndjson").glob("*.ndjson"))


def test_an_unknown_class_is_answered_with_close_names(bucket: tuple[Bucket, str], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    state, url = bucket
    assert _fetch(url, tmp_path / "qd", "apple", "dgo") == EXIT_USER_ERROR
    line = _one_error_line(capsys.readouterr().err)
    assert "'dgo' is not a Quick, Draw! category: did you mean 'dog'" in line and "--force" in line
    assert state.requests == [] and not (tmp_path / "qd").exists()  # refused before anything is fetched
    # --force asks the server, whose 404 is one line too
    assert main(["data", "fetch", "quickdraw", "--force", "dgo", f"fetch.quickdraw_url={url}",
                 f"paths.quickdraw_fetched={tmp_path / 'qd'}"]) == EXIT_USER_ERROR
    assert "'dgo': no such file at" in _one_error_line(capsys.readouterr().err)
    assert state.requests == [("dgo", None)]


def test_the_shipped_categories_hold_the_samples_and_the_common_classes() -> None:
    known = categories()
    assert len(known) == len(set(known)) == 345
    assert {p.stem for p in SAMPLES.glob("*.ndjson")} <= set(known)
    assert {"dog", "cat", "bird", "face", "house", "car"} <= set(known)


def test_what_was_fetched_trains_with_the_printed_command(bucket: tuple[Bucket, str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The command's last line is the `articulate repro` that reads the fetched files as `data=quickdraw`."""
    from pipeline.config import build, compose

    state, url = bucket
    assert _fetch(url, tmp_path / "qd", "alarm clock", "apple") == 0
    hint = capsys.readouterr().out.strip().splitlines()[-1]
    words = shlex.split(hint.removeprefix("train on them: "))
    assert words[:3] == ["articulate", "repro", "data=quickdraw"]
    cfg = compose(words[2:], targets=False)
    assert Path(cfg.data.source.folder) == tmp_path / "qd" / "ndjson"
    result = build(cfg.data.source, "data.source")
    lines = {name: len(data.splitlines()) for name, data in state.files.items()}
    assert len(result.sketches) == lines["alarm clock"] + lines["apple"] and not result.skipped
    assert {s.word for s in result.sketches} == {"alarm clock", "apple"}
