"""Hostile input files for the command line and the data readers: a device that never ends (``/dev/zero``), a
pipe, a 1 GB file, a file that is one endless line, names no file may have, and class names that are paths or
markup. Each is one clear error line, at once (checked with a timeout: memory stays bounded), never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from tests.conftest import ROOT

#: Seconds a refused command may take on a loaded machine (it starts Python and torch; it reads nothing).
COMMAND_S = 120


def _run(*args: str) -> subprocess.CompletedProcess:
    """``articulate ARGS`` in the project folder, killed (and failed) if it runs past COMMAND_S."""
    return subprocess.run([sys.executable, "-m", "articulate.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=COMMAND_S, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _assert_one_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 1 or 2, one ``error:`` line naming the problem, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode in (1, 2), (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile_files")
    big = folder / "big.ndjson"
    with big.open("wb") as file:  # sparse: a gigabyte on paper, nothing on disk
        file.truncate(1 << 30)
    endless = folder / "endless.ndjson"
    endless.write_bytes(b"[" * (3 << 20))
    fifo = folder / "pipe.ndjson"
    os.mkfifo(fifo)
    paths = folder / "paths.ndjson"
    paths.write_text(json.dumps({"word": "../../etc/passwd", "drawing": [[[1, 2], [3, 4]]]}) + "\n")
    return {"big": big, "endless": endless, "fifo": fifo, "paths": paths, "long": folder / ("n" * 300 + ".ndjson")}


@pytest.mark.parametrize("command", [
    ["feedback", "--sketch", "{file}:1"],
    ["edit", "--sketch", "{file}:1", "--ablate", "ear"],
    ["dream", "--sketch", "{file}:1"],
])
@pytest.mark.parametrize("which, words", [
    ("/dev/zero", ("/dev/zero", "not a regular")),
    ("fifo", ("pipe.ndjson", "not a regular")),
    ("big", ("1,073,741,824 bytes", "labeling.max_file_bytes")),
])
def test_a_file_that_never_ends_is_refused_at_once(hostile_files: dict[str, Path], command: list[str], which: str,
                                                   words: tuple[str, ...]) -> None:
    file = which if which.startswith("/") else str(hostile_files[which])
    _assert_one_error(_run(*(part.format(file=file) for part in command)), *words)


@pytest.mark.parametrize("which", ["/dev/zero", "big"])
def test_a_reference_file_is_size_checked(labeling_project, hostile_files: dict[str, Path], which: str) -> None:
    from pipeline.rounds import model_path

    model = model_path(labeling_project.cfg(), 0)
    file = which if which.startswith("/") else str(hostile_files[which])
    _assert_one_error(_run("render", "--model", str(model), "--channel", "0", "--reference", file,
                           "--out", str(hostile_files["big"].parent / "icons.png")), Path(file).name)


@pytest.mark.parametrize("which, words", [
    ("endless", ("longer than 1,048,576 bytes",)),
    ("paths", ("class name", "'/'")),
    ("long", ("cannot read",)),
])
def test_a_bad_drawing_file_is_one_error_line(hostile_files: dict[str, Path], which: str,
                                              words: tuple[str, ...]) -> None:
    _assert_one_error(_run("feedback", "--sketch", f"{hostile_files[which]}:1"), *words)


@pytest.mark.parametrize("token", ["abc", "x" * 15])
def test_a_short_token_stops_the_server_at_start(token: str) -> None:
    result = _run("label", "--port", "0", "--host", "0.0.0.0", f"labeling.token={token}")
    _assert_one_error(result, "labeling.token", "at least 16")


# --- class names in data files ------------------------------------------------------------------------------

@pytest.mark.parametrize("word, words", [
    ("../../etc/passwd", "'/'"),
    ("<script>alert(1)</script>", "'<'"),
    ("cat\u202etac", "U+202E"),
    ("c\u200bat", "U+200B"),
    ("cat\ud800", "surrogate"),
    (".hidden", "starts with a dot"),
    ("x" * 81, "at most 80"),
    ("C:\\windows", "':'"),
])
def test_a_class_name_in_an_ndjson_file_is_checked_like_a_concept_name(tmp_path: Path, word: str,
                                                                       words: str) -> None:
    from core.ndjson import read_ndjson

    file = tmp_path / "data.ndjson"
    good = json.dumps({"word": "cat", "drawing": [[[1, 2], [3, 4]]]})
    bad = json.dumps({"word": word, "drawing": [[[1, 2], [3, 4]]]})  # ASCII-escaped: a lone surrogate survives
    file.write_text(f"{good}\n{bad}\n")
    with pytest.raises(InputError, match=f"data.ndjson:2") as caught:
        read_ndjson(file)
    assert words in str(caught.value)
    assert len(read_ndjson(file, on_error="skip").skipped) == 1


def test_a_part_name_and_a_file_named_after_no_class_are_refused(tmp_path: Path) -> None:
    from pipeline.data.bitmap import read_bitmap
    from core.ndjson import read_ndjson

    parts = tmp_path / "cat.ndjson"
    parts.write_text(json.dumps({"word": "cat", "drawing": [[[1, 2], [3, 4]]], "parts": ["<b>ear"]}) + "\n")
    with pytest.raises(InputError, match="cat.ndjson:1.*'parts' entry 1"):
        read_ndjson(parts)
    markup = tmp_path / "<script>.ndjson"
    markup.write_text(json.dumps({"drawing": [[[1, 2], [3, 4]]]}) + "\n")
    with pytest.raises(InputError, match="class name"):
        read_ndjson(markup)
    bitmap = tmp_path / "<img src=x>.npy"
    np.save(bitmap, np.full((2, 784), 255, dtype=np.uint8))
    with pytest.raises(InputError, match="class name"):
        read_bitmap(bitmap)


def test_class_names_are_normalised(tmp_path: Path) -> None:
    from core.ndjson import read_ndjson

    file = tmp_path / "data.ndjson"
    file.write_text(json.dumps({"word": "cafe\u0301", "drawing": [[[1, 2], [3, 4]]]}) + "\n")
    assert read_ndjson(file).sketches[0].word == "caf\u00e9"


def test_data_readers_refuse_a_device(tmp_path: Path) -> None:
    from pipeline.data.bitmap import read_bitmap
    from core.ndjson import read_ndjson

    for read in (read_ndjson, read_bitmap):
        with pytest.raises(InputError, match="not a regular"):
            read("/dev/zero")
