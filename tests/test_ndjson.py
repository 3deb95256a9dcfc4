"""Reading and writing Quick, Draw! simplified ndjson: round trips, the real samples, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.ndjson import ReadResult, Skipped, read_ndjson, read_ndjson_dir, write_ndjson
from core.sketch import Sketch
from core.errors import ConfigError, InputError

GOOD = {"word": "cat", "key_id": "1", "drawing": [[[0, 10, 255], [5, 6, 7]], [[3], [4]]]}


def line(**changes: object) -> str:
    """A valid record as a JSON line, with some keys changed (None removes a key)."""
    record = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return json.dumps(record)


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(text + "\n" for text in lines), encoding="utf-8")
    return path


def stroke_sketch(key: str, word: str = "cat", parts: tuple[str, ...] | None = None) -> Sketch:
    strokes = (
        np.array([[0, 50.4, 255], [10, 20, 30]], dtype=np.float32),
        np.array([[7], [8]], dtype=np.float32),
    )
    return Sketch(key_id=key, word=word, strokes=strokes, parts=parts)


# --- reading valid files -------------------------------------------------------------------------------


def test_reads_strokes_as_float32_rows(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "cat.ndjson", line())
    result = read_ndjson(path)
    assert isinstance(result, ReadResult) and result.skipped == []
    (sketch,) = result.sketches
    assert (sketch.key_id, sketch.word, sketch.parts, sketch.bitmap) == ("1", "cat", None, None)
    assert len(sketch.strokes) == 2
    assert all(s.dtype == np.float32 for s in sketch.strokes)
    np.testing.assert_array_equal(sketch.strokes[0], [[0, 10, 255], [5, 6, 7]])
    np.testing.assert_array_equal(sketch.strokes[1], [[3], [4]])


def test_round_trip_with_parts(tmp_path: Path) -> None:
    sketches = [stroke_sketch("a", parts=("body", "eye")), stroke_sketch("b", word="dog")]
    path = tmp_path / "sub" / "out.ndjson"
    assert write_ndjson(path, sketches) == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and " " not in lines[0]  # compact: one object per line
    back = read_ndjson(path).sketches
    assert [(s.key_id, s.word, s.parts) for s in back] == [("a", "cat", ("body", "eye")), ("b", "dog", None)]
    # Coordinates are written as integers, as in the dataset.
    np.testing.assert_array_equal(back[0].strokes[0], [[0, 50, 255], [10, 20, 30]])
    np.testing.assert_array_equal(back[0].strokes[1], [[7], [8]])


def test_write_refuses_bitmap_sketches(tmp_path: Path) -> None:
    bitmap = Sketch(key_id="b", word="cat", bitmap=np.zeros((28, 28), np.uint8))
    with pytest.raises(ValueError, match="no strokes"):
        write_ndjson(tmp_path / "x.ndjson", [stroke_sketch("a"), bitmap])
    assert not (tmp_path / "x.ndjson").exists()  # atomic: nothing half-written


def test_defaults_for_missing_word_and_key_id(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "my cats.ndjson", "", line(word=None, key_id=None), "   ", line(key_id=None))
    sketches = read_ndjson(path).sketches
    # The stem is the default word; the key_id is made from the stem and the (1-based) line number.
    assert [(s.word, s.key_id) for s in sketches] == [("my cats", "my cats-2"), ("cat", "my cats-4")]
    assert read_ndjson(path, word="kitten").sketches[0].word == "kitten"


def test_integer_key_id_and_extra_keys(tmp_path: Path) -> None:
    record = dict(GOOD, key_id=5027286841556992, countrycode="GB", recognized=False, timestamp="x")
    path = write_lines(tmp_path / "cat.ndjson", json.dumps(record))
    assert read_ndjson(path).sketches[0].key_id == "5027286841556992"


def test_slightly_out_of_range_coordinates_are_clipped(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "cat.ndjson", line(drawing=[[[-0.4, 255.3], [0.5, 100]]]))
    np.testing.assert_array_equal(read_ndjson(path).sketches[0].strokes[0], [[0, 255], [0.5, 100]])


def test_utf8_bom_and_non_ascii_words(tmp_path: Path) -> None:
    path = tmp_path / "chat.ndjson"
    path.write_bytes("\ufeff".encode() + line(word="chât").encode() + b"\n")
    assert read_ndjson(path).sketches[0].word == "chât"


def test_limit_stops_early(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "cat.ndjson", *(line(key_id=str(i)) for i in range(5)), "not json")
    assert [s.key_id for s in read_ndjson(path, limit=3).sketches] == ["0", "1", "2"]


def test_all_real_samples_load(quickdraw_dir: Path) -> None:
    folder = quickdraw_dir / "ndjson"
    files = sorted(folder.glob("*.ndjson"))
    assert len(files) == 295
    result = read_ndjson_dir(folder)
    assert result.skipped == []
    assert len(result.sketches) == 295 * 25
    assert {s.word for s in result.sketches} == {p.stem for p in files}  # incl. names with spaces
    assert len({s.key_id for s in result.sketches}) == len(result.sketches)
    for sketch in result.sketches:
        assert sketch.strokes and all(s.ndim == 2 and s.shape[0] == 2 and s.shape[1] >= 1 for s in sketch.strokes)
        assert all(0 <= s.min() and s.max() <= 255 for s in sketch.strokes)


def test_dir_selects_classes_and_limits(quickdraw_dir: Path) -> None:
    result = read_ndjson_dir(quickdraw_dir / "ndjson", classes=["The Mona Lisa", "apple"], max_per_class=3)
    assert [s.word for s in result.sketches] == ["The Mona Lisa"] * 3 + ["apple"] * 3


def test_dir_is_sorted_and_deterministic(tmp_path: Path) -> None:
    write_lines(tmp_path / "b.ndjson", line(word="b", key_id="b1"))
    write_lines(tmp_path / "a.ndjson", line(word="a", key_id="a1"), line(word="a", key_id="a2"))
    (tmp_path / "notes.txt").write_text("ignored")
    assert [s.key_id for s in read_ndjson_dir(tmp_path).sketches] == ["a1", "a2", "b1"]


# --- bad lines: one clear InputError naming the file and the line ---------------------------------------

BAD_LINES = [
    ('{"word": "cat", "drawing": [[[1], [2]]', "not valid JSON"),
    ("[1, 2, 3]", "expected a JSON object"),
    (line(drawing=None), "missing 'drawing'"),
    (line(word=3), "'word' must be a non-empty string"),
    (line(word=""), "'word' must be a non-empty string"),
    (line(key_id=[1]), "'key_id' must be"),
    (line(key_id=True), "'key_id' must be"),
    (line(drawing=[]), "empty drawing"),
    (line(drawing=[[[], []], [[], []]]), "empty drawing"),
    (line(drawing=[[[1, 2], [3, 4]], [[], []]]), "stroke 2 has no points"),
    (line(drawing="abc"), "'drawing' must be a list of strokes"),
    (line(drawing=[[1, 2]]), "stroke 1: the x coordinates must be a list"),
    (line(drawing=[[[1, 2], [3, 4], [5, 6], [7, 8]]]), "stroke 1 must be"),
    (line(drawing=[[[1, 2], [3, 4], [0, 100]]]), "raw Quick, Draw! layout"),
    (line(drawing=[[[1, 2], [3]]]), "stroke 1 has 2 x but 1 y coordinates"),
    (line(drawing=[[[1], [2]], [[1, "2"], [3, 4]]]), 'stroke 2: x coordinate string "2" is not a number'),
    (line(drawing=[[[1, None], [3, 4]]]), "x coordinate null is not a number"),
    (line(drawing=[[[1, 2], [3, True]]]), "y coordinate boolean true is not a number"),
    (line(drawing=[[[1, 300], [3, 4]]]), "x coordinate 300 is outside 0..255"),
    (line(drawing=[[[1, 2], [3, -1]]]), "y coordinate -1 is outside 0..255"),
    (line(drawing=[[[1, 10**400], [3, 4]]]), "outside 0..255"),
    ('{"word": "cat", "drawing": [[[1, NaN], [3, 4]]]}', "'NaN' is not a number"),
    ('{"word": "cat", "drawing": [[[1, 2], [3, Infinity]]]}', "'Infinity' is not a number"),
    ('{"word": "cat", "drawing": [[[1, 1e400], [3, 4]]]}', "not a finite number"),  # json reads 1e400 as inf
    (line(parts=["a"]), "'parts' has 1 names but the drawing has 2 strokes"),
    (line(parts=["a", ""]), "'parts' entry 2 must be a non-empty part name"),
    (line(parts=["a", 3]), "'parts' entry 2 must be a non-empty part name"),
    (line(parts="a b"), "'parts' must be a list"),
]


@pytest.mark.parametrize(("bad", "problem"), BAD_LINES)
def test_bad_line_raises_with_file_and_line(tmp_path: Path, bad: str, problem: str) -> None:
    path = write_lines(tmp_path / "cat.ndjson", line(key_id="ok1"), "", bad, line(key_id="ok2"))
    with pytest.raises(InputError) as info:
        read_ndjson(path)
    error = info.value
    assert error.path == str(path)
    assert error.line == 3  # 1-based, blank lines counted
    assert problem in error.problem
    assert "data.source.on_error=skip" in (error.hint or "")
    assert str(error).startswith(f"{path}:3: ")


@pytest.mark.parametrize(("bad", "problem"), BAD_LINES)
def test_bad_line_is_skipped_and_counted(tmp_path: Path, bad: str, problem: str) -> None:
    path = write_lines(tmp_path / "cat.ndjson", line(key_id="ok1"), bad, line(key_id="ok2"))
    result = read_ndjson(path, on_error="skip")
    assert [s.key_id for s in result.sketches] == ["ok1", "ok2"]
    assert len(result.skipped) == 1
    skipped = result.skipped[0]
    assert isinstance(skipped, Skipped)
    assert (skipped.path, skipped.line) == (str(path), 2)
    assert problem in skipped.reason
    assert str(skipped).startswith(f"{path}:2: ")


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "cat.ndjson"
    path.write_bytes(line().encode() + b"\n" + b'{"word": "caf\xe9"}\n')
    with pytest.raises(InputError, match="not valid UTF-8") as info:
        read_ndjson(path)
    assert info.value.line == 2
    assert len(read_ndjson(path, on_error="skip").skipped) == 1


def test_skip_mode_keeps_first_error_when_all_lines_are_bad(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "cat.ndjson", "nope", line(drawing=[]))
    with pytest.raises(InputError, match=r"no valid drawings: all 2 .*line 1: not valid JSON") as info:
        read_ndjson(path, on_error="skip")
    assert info.value.path == str(path)


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cat.ndjson"
    path.write_text(content)
    for mode in ("raise", "skip"):
        with pytest.raises(InputError, match="no drawings") as info:
            read_ndjson(path, on_error=mode)
        assert info.value.path == str(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found") as info:
        read_ndjson(tmp_path / "nope.ndjson")
    assert info.value.path == str(tmp_path / "nope.ndjson")
    with pytest.raises(InputError, match="is a folder"):
        read_ndjson(tmp_path)


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "cat.ndjson", line())
    with pytest.raises(ConfigError, match="on_error"):
        read_ndjson(path, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_per_class"):
        read_ndjson_dir(tmp_path, max_per_class=0)
    with pytest.raises(ConfigError, match="list of class names"):
        read_ndjson_dir(tmp_path, classes="cat")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="empty list"):
        read_ndjson_dir(tmp_path, classes=[])


def test_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder not found"):
        read_ndjson_dir(tmp_path / "missing")
    with pytest.raises(InputError, match=r"no \.ndjson files"):
        read_ndjson_dir(tmp_path)
    file = write_lines(tmp_path / "cat.ndjson", line())
    with pytest.raises(InputError, match="is a file, not a folder"):
        read_ndjson_dir(file)


def test_dir_unknown_class_lists_available(tmp_path: Path) -> None:
    write_lines(tmp_path / "cat.ndjson", line())
    write_lines(tmp_path / "dog.ndjson", line(word="dog"))
    with pytest.raises(InputError) as info:
        read_ndjson_dir(tmp_path, classes=["cat", "cta"])
    error = info.value
    assert error.path == str(tmp_path)
    assert "'cta'" in error.problem
    assert "did you mean 'cat'" in (error.hint or "")
    assert "available classes (2): cat, dog" in (error.hint or "")


def test_dir_bad_line_names_the_file(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.ndjson", line())
    bad = write_lines(tmp_path / "b.ndjson", line(), line(), "{oops")
    with pytest.raises(InputError) as info:
        read_ndjson_dir(tmp_path)
    assert (info.value.path, info.value.line) == (str(bad), 3)
    result = read_ndjson_dir(tmp_path, on_error="skip")
    assert len(result.sketches) == 3
    assert [(s.path, s.line) for s in result.skipped] == [(str(bad), 3)]
