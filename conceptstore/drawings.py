"""Drawings made in the app that concepts point into: ``drawings.ndjson`` beside the concept store.

When a person talks back from the drawing page ("this is ear" on a stroke of their own drawing), the
positions they mark are on a drawing that no dataset holds. The drawing is kept here, one Quick, Draw! ndjson
line each (``word``, ``key_id``, ``drawing``), git-tracked beside ``concepts.yaml``; its ``key_id`` is
``drawn-<hash of word and strokes>``, so the same drawing is kept once however often it is marked. Fine-tuning
reads these drawings with the dataset's (:class:`pipeline.finetune.data.SketchIndex`), so their positions
count like any other.

Writes take a file lock and replace the file atomically: a crash leaves the old file or the new one. A drawing
kept for a change of the concept store (:meth:`DrawingBook.kept`) is taken out again when that change fails, so a
refused request leaves no drawing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import filelock

from core.sketch import Sketch
from core.errors import ArticulateError
from core.io import atomic_write_text

__all__ = ["DRAWN_PREFIX", "DrawingBook", "drawings_path"]

DRAWN_PREFIX = "drawn-"


def drawings_path(store_path: str | os.PathLike[str]) -> Path:
    """The drawings file of the concept store at ``store_path`` (``concepts/drawings.ndjson``)."""
    return Path(store_path).with_name("drawings.ndjson")


class DrawingBook:
    """The drawings file.

    Args:
        path: ``drawings.ndjson``; a missing file is an empty book.
        lock_timeout: Seconds to wait for another writer.
    """

    def __init__(self, path: str | os.PathLike[str], lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = filelock.FileLock(self.path.with_name(self.path.name + ".lock"), timeout=lock_timeout)

    def sketches(self) -> list[Sketch]:
        """Every drawing kept, in the order they were added.

        Raises:
            InputError: The file is damaged (naming the line).
        """
        if not self.path.is_file() or not self.path.read_text().strip():
            return []
        from core.ndjson import read_ndjson

        return read_ndjson(self.path).sketches

    def add(self, sketch: Sketch) -> str:
        """Keep a drawing (once); returns its ``key_id``.

        Raises:
            ArticulateError: A drawing with no strokes, or another writer held the lock too long.
        """
        with self.kept(sketch) as key_id:
            return key_id

    @contextlib.contextmanager
    def kept(self, sketch: Sketch) -> Iterator[str]:
        """Keep a drawing (once) for a ``with`` block that records what it is for (a change of the concept store),
        yielding its ``key_id``: if the block raises, the file is put back as it was, so the drawing stays only
        with the change. The book's lock is held meanwhile.

        Raises:
            ArticulateError: A drawing with no strokes, or another writer held the lock too long.
        """
        if not sketch.strokes:
            raise ArticulateError("a drawing with no strokes cannot be kept")
        strokes = [[[int(round(v)) for v in stroke[0]], [int(round(v)) for v in stroke[1]]] for stroke in sketch.strokes]
        digest = hashlib.sha256(json.dumps([sketch.word, strokes]).encode()).hexdigest()[:16]
        key_id = DRAWN_PREFIX + digest
        line = json.dumps({"word": sketch.word, "key_id": key_id, "recognized": True, "drawing": strokes})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise ArticulateError(f"{self.path}: another writer held its lock too long; try again") from None
        try:
            before = self.path.read_text() if self.path.is_file() else None
            text = before or ""
            if f'"key_id": "{key_id}"' in text:
                yield key_id
                return
            atomic_write_text(self.path, text + ("" if not text or text.endswith("\n") else "\n") + line + "\n")
            try:
                yield key_id
            except BaseException:
                if before is None:
                    self.path.unlink(missing_ok=True)
                else:
                    atomic_write_text(self.path, before)
                raise
        finally:
            self._lock.release()
