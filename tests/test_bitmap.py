"""Reading numpy_bitmap .npy files: the real samples, conversions, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.data.bitmap import read_bitmap, read_bitmap_dir, word_from_stem
from core.errors import ConfigError, InputError


def drawings(n: int, dtype: type = np.uint8) -> np.ndarray:
    """n distinct non-blank 28x28 drawings as (n, 784): a diagonal-ish line of ink at a row offset."""
    images = np.zeros((n, 28, 28), dtype=np.float64)
    for i in range(n):
        images[i, i % 28, :] = 255
        images[i, :, (3 * i) % 28] = 128
    return images.reshape(n, 784).astype(dtype)


def save(path: Path, array: np.ndarray) -> Path:
    with path.open("wb") as file:  # np.save(path) would append .npy to odd names
        np.save(file, array)
    return path


@pytest.mark.parametrize(
    ("stem", "word"),
    [("bowtie5000", "bowtie"), ("full_numpy_bitmap_cat", "cat"), ("hot dog", "hot dog"), ("ant_200", "ant"),
     ("5000", "5000")],
)
def test_word_from_stem(stem: str, word: str) -> None:
    assert word_from_stem(stem) == word


def test_real_samples_load_with_limit(quickdraw_dir: Path) -> None:
    for name, word in [("bowtie5000.npy", "bowtie"), ("lollipop5000.npy", "lollipop"), ("rainbow5000.npy", "rainbow")]:
        path = quickdraw_dir / "bitmap" / name
        result = read_bitmap(path, limit=50)
        assert len(result.sketches) == 50
        first = result.sketches[0]
        assert (first.word, first.key_id, first.strokes, first.parts) == (word, f"{path.stem}-0", (), None)
        assert first.bitmap is not None and first.bitmap.dtype == np.uint8 and first.bitmap.shape == (28, 28)
        np.testing.assert_array_equal(first.bitmap.ravel(), np.load(path, mmap_mode="r")[0])


def test_real_dir_selects_classes(quickdraw_dir: Path) -> None:
    result = read_bitmap_dir(quickdraw_dir / "bitmap", classes=["rainbow", "bowtie"], max_per_class=4)
    assert [s.word for s in result.sketches] == ["bowtie"] * 4 + ["rainbow"] * 4  # sorted file order
    assert result.skipped == []
    with pytest.raises(InputError, match="'cat'") as info:
        read_bitmap_dir(quickdraw_dir / "bitmap", classes=["cat"])
    assert "available classes (3): bowtie, lollipop, rainbow" in (info.value.hint or "")


def test_three_d_and_other_dtypes_are_converted(tmp_path: Path) -> None:
    data = drawings(3)
    for name, array in [
        ("a.npy", data.reshape(3, 28, 28)),
        ("b.npy", data.astype(np.int64)),
        ("c.npy", data.astype(np.float32) - 0.3),  # rounded, not truncated
        ("d.npy", data.astype(">u2")),  # big-endian
        ("e.npy", data.reshape(3, 1, 784)),  # a channel axis
        ("f.npy", data.reshape(3, 1, 28, 28)),
    ]:
        sketches = read_bitmap(save(tmp_path / name, array)).sketches
        assert len(sketches) == 3
        for i, sketch in enumerate(sketches):
            assert sketch.bitmap.dtype == np.uint8
            np.testing.assert_array_equal(sketch.bitmap, data[i].reshape(28, 28), err_msg=name)


def test_word_and_key_ids(tmp_path: Path) -> None:
    path = save(tmp_path / "cat123.npy", drawings(2))
    assert [(s.word, s.key_id) for s in read_bitmap(path).sketches] == [("cat", "cat123-0"), ("cat", "cat123-1")]
    assert read_bitmap(path, word="kitten").sketches[0].word == "kitten"


def test_blank_rows_raise_or_are_skipped(tmp_path: Path) -> None:
    data = drawings(5)
    data[1] = 0
    data[3] = 0
    path = save(tmp_path / "cat.npy", data)
    with pytest.raises(InputError, match="row 1 is a blank drawing") as info:
        read_bitmap(path)
    assert info.value.path == str(path)
    assert "data.source.on_error=skip" in (info.value.hint or "")
    result = read_bitmap(path, on_error="skip")
    assert [s.key_id for s in result.sketches] == ["cat-0", "cat-2", "cat-4"]
    assert [(s.path, s.reason[:5]) for s in result.skipped] == [(str(path), "row 1"), (str(path), "row 3")]
    # The limit counts drawings returned, not rows read.
    assert [s.key_id for s in read_bitmap(path, on_error="skip", limit=2).sketches] == ["cat-0", "cat-2"]


def test_all_blank_rows_is_an_error_even_when_skipping(tmp_path: Path) -> None:
    path = save(tmp_path / "cat.npy", np.zeros((4, 784), np.uint8))
    with pytest.raises(InputError, match="no usable drawings: all 4 are blank"):
        read_bitmap(path, on_error="skip")


def test_limit_reads_only_what_is_needed(tmp_path: Path) -> None:
    data = drawings(10, np.float32)
    data[8, 0] = 999  # beyond the limit: never looked at
    path = save(tmp_path / "cat.npy", data)
    assert len(read_bitmap(path, limit=5).sketches) == 5
    with pytest.raises(InputError, match="row 8 has pixel values outside 0..255"):
        read_bitmap(path)


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        (np.zeros((5, 100), np.uint8), r"has shape \(5, 100\); expected \(N, 784\) or \(N, 28, 28\)"),
        (np.zeros((784,), np.uint8), r"has shape \(784,\); expected"),
        (np.zeros((2, 28, 27), np.uint8), r"has shape \(2, 28, 27\)"),
        (np.zeros((0, 784), np.uint8), r"holds no drawings \(shape \(0, 784\)\)"),
        (np.full((2, 784), 300.0), "row 0 has pixel values outside 0..255"),
        (np.full((2, 784), -1, np.int16), "row 0 has pixel values outside 0..255"),
        (np.full((2, 784), np.nan, np.float32), "row 0 holds NaN or infinite values"),
        (np.full((2, 784), 0.5, np.float32), "look like 0..1 intensities"),
        (np.ones((2, 784), bool), "has dtype bool"),
        (np.ones((2, 784), np.complex64), "has dtype complex64"),
        (np.array(["x"] * 784).reshape(1, 784), "has dtype <U1"),
    ],
)
def test_bad_arrays(tmp_path: Path, array: np.ndarray, problem: str) -> None:
    path = save(tmp_path / "cat.npy", array)
    for mode in ("raise", "skip"):
        with pytest.raises(InputError, match=problem) as info:
            read_bitmap(path, on_error=mode)
        assert info.value.path == str(path)


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "cat.npy"
    path.write_bytes(b"this is not a numpy file at all" * 10)
    with pytest.raises(InputError, match="not a .npy file") as info:
        read_bitmap(path)
    assert info.value.path == str(path) and info.value.hint


def test_truncated_file(tmp_path: Path) -> None:
    path = save(tmp_path / "cat.npy", drawings(10))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(InputError, match="truncated"):
        read_bitmap(path)
    path.write_bytes(data[:40])  # cut inside the header
    with pytest.raises(InputError, match="truncated"):
        read_bitmap(path)


def test_empty_file_npz_and_object_arrays(tmp_path: Path) -> None:
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        read_bitmap(empty)
    npz = tmp_path / "z.npy"
    with npz.open("wb") as file:
        np.savez(file, a=drawings(1))
    with pytest.raises(InputError, match="npz archive"):
        read_bitmap(npz)
    objects = tmp_path / "o.npy"
    with objects.open("wb") as file:
        np.save(file, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="Python objects"):
        read_bitmap(objects)


def test_missing_paths_and_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_bitmap(tmp_path / "cat.npy")
    with pytest.raises(InputError, match="is a folder"):
        read_bitmap(tmp_path)
    with pytest.raises(InputError, match="folder not found"):
        read_bitmap_dir(tmp_path / "nope")
    with pytest.raises(InputError, match=r"no \.npy files"):
        read_bitmap_dir(tmp_path)
    path = save(tmp_path / "cat.npy", drawings(2))
    with pytest.raises(ConfigError, match="limit"):
        read_bitmap(path, limit=0)
    with pytest.raises(ConfigError, match="on_error"):
        read_bitmap(path, on_error="warn")  # type: ignore[arg-type]


def test_dir_max_per_class_spans_files_of_one_class(tmp_path: Path) -> None:
    save(tmp_path / "cat1.npy", drawings(3))
    save(tmp_path / "cat2.npy", drawings(3))
    save(tmp_path / "dog.npy", drawings(3))
    result = read_bitmap_dir(tmp_path, max_per_class=4)
    assert [s.key_id for s in result.sketches] == ["cat1-0", "cat1-1", "cat1-2", "cat2-0", "dog-0", "dog-1", "dog-2"]


def test_sketches_do_not_keep_the_file_mapped(tmp_path: Path) -> None:
    path = save(tmp_path / "cat.npy", drawings(3))
    sketches = read_bitmap(path).sketches
    assert not isinstance(sketches[0].bitmap.base, np.memmap)
    path.unlink()  # the data is in memory: still readable
    assert sketches[2].bitmap.any()
