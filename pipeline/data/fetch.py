"""Downloading the public Quick, Draw! "simplified" ndjson files into the project (``articulate data fetch``).

Each class is one file, ``<base_url>/<class>.ndjson``. A download goes to ``<class>.ndjson.part`` beside its
destination and is renamed into place only once it is complete and verified, so the folder never holds half a
class under the name the readers look for:

- resumable: a ``.part`` left by a lost connection (or Ctrl-C) is continued with an HTTP ``Range`` request, in the
  same run (``fetch.retries`` times) or the next one;
- checked: against the MD5 the server declares (Google Cloud Storage's ``x-goog-hash: md5=<base64>``, which is the
  whole object's even for a range) and the size it declares (``Content-Length``, ``Content-Range``); a mismatch
  removes the ``.part``;
- recorded: the lock file (:data:`LOCK_NAME`) beside the files holds each one's URL, size and SHA-256; a class
  already recorded there with its size is not downloaded again.

Class names are checked, offline, against the dataset's 345 categories (shipped as
``quickdraw_categories.txt``); an unknown one is answered with the close matches.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.errors import ArticulateError, ConfigError, InputError
from core.io import atomic_write_text

__all__ = ["CATEGORIES_FILE", "LOCK_NAME", "Fetched", "categories", "class_url", "fetch_quickdraw", "resolve_classes"]

#: The dataset's categories, one a line, as its file names spell them.
CATEGORIES_FILE = Path(__file__).with_name("quickdraw_categories.txt")
#: The record of what was fetched into a folder: file name -> URL, size, SHA-256, the server's MD5.
LOCK_NAME = "fetch.lock.json"
PART_SUFFIX = ".part"
CATEGORIES_URL = "https://github.com/googlecreativelab/quickdraw-dataset/blob/master/categories.txt"

Status = Literal["downloaded", "cached", "present"]


@dataclass(frozen=True)
class Fetched:
    """One class's file after a fetch.

    Attributes:
        name: The class.
        path: Its ``.ndjson`` file.
        status: ``downloaded`` (in this run), ``cached`` (fetched before: recorded in the lock file with this
            size) or ``present`` (a file that no fetch recorded, left as it is).
        size: The file's size in bytes.
        sha256: Its SHA-256 (hex) as recorded in the lock file; None for a ``present`` file.
        checked: What the download was verified against (``md5 and size``, ``size``, ``nothing``); None unless
            downloaded in this run.
    """

    name: str
    path: Path
    status: Status
    size: int
    sha256: str | None = None
    checked: str | None = None


class _Lost(Exception):
    """The connection was lost during a download, after ``size`` bytes of the file were on disk."""


class _Restart(Exception):
    """The server cannot continue the ``.part`` (HTTP 416): start the file again from its first byte."""


def categories() -> list[str]:
    """The Quick, Draw! categories, in the dataset's order.

    Returns:
        The 345 class names, as the dataset's file names spell them ("The Eiffel Tower", "t-shirt").
    """
    lines = CATEGORIES_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _normal(name: str) -> str:
    """A class name as typed, compared loosely: case, underscores for spaces and extra spaces do not matter."""
    return " ".join(name.replace("_", " ").split()).casefold()


def _close_names(name: str, names: list[str], n: int = 3) -> list[str]:
    """difflib's close matches, those of about the typed length first among equally close ones ("dgo": dog)."""
    close = difflib.get_close_matches(name, names, n=2 * n, cutoff=0.6)
    ratio = {c: difflib.SequenceMatcher(None, name, c).ratio() for c in close}
    return sorted(close, key=lambda c: (-round(ratio[c], 6), abs(len(c) - len(name))))[:n]


def resolve_classes(names: Sequence[str], force: bool = False) -> list[str]:
    """The categories ``names`` mean, spelled as the dataset spells them, without repeats.

    Args:
        names: Class names as typed ("alarm_clock" and "Alarm Clock" mean "alarm clock").
        force: Keep a name that is not a known category as it is (the server decides).

    Returns:
        The class names, in the order given.

    Raises:
        ConfigError: A name is not a category (the message lists close matches and says ``--force``), or is not
            usable as a file name.
    """
    from core.names import NameProblem, check_class_name

    known = {_normal(c): c for c in categories()}
    resolved: list[str] = []
    for name in names:
        canonical = known.get(_normal(name))
        if canonical is None and not force:
            close = _close_names(_normal(name), list(known))
            suggestion = (f"did you mean {', '.join(repr(known[c]) for c in close)}?" if close
                          else "no category is close")
            raise ConfigError(f"{name!r} is not a Quick, Draw! category: {suggestion} (the {len(known)} categories: "
                              f"{CATEGORIES_URL}; --force fetches the name anyway)")
        if canonical is None:
            try:
                canonical = check_class_name(name)
            except NameProblem as problem:
                raise ConfigError(f"cannot fetch {name!r}: {problem}") from None
        resolved.append(canonical)
    return list(dict.fromkeys(resolved))


def class_url(base_url: str, name: str) -> str:
    """The URL of a class's file.

    Args:
        base_url: The folder's URL (``fetch.quickdraw_url``).
        name: The class, spaces kept ("alarm clock" is ``alarm%20clock.ndjson``).

    Returns:
        ``<base_url>/<quoted name>.ndjson``.
    """
    return f"{base_url.rstrip('/')}/{urllib.parse.quote(name)}.ndjson"


def _read_lock(path: Path) -> dict[str, Any]:
    """The lock file's entries (file name -> record); none when there is no lock file yet."""
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        if not isinstance(files, dict):
            raise TypeError(files)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"not a fetch lock file ({type(err).__name__}: {err})",
                         hint="delete it; the files beside it are then kept as they are and not checked") from None
    return files


def _write_lock(path: Path, files: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps({"files": dict(sorted(files.items()))}, indent=2, ensure_ascii=False) + "\n")


def _declared_md5(headers: http.client.HTTPMessage) -> str | None:
    """The base64 MD5 of the whole object from ``x-goog-hash`` headers (``crc32c=...,md5=...``), if declared."""
    for header in headers.get_all("x-goog-hash") or []:
        for item in header.split(","):
            kind, _, value = item.strip().partition("=")
            if kind.lower() == "md5" and value:
                return value
    return None


def _total_size(response: http.client.HTTPResponse) -> int | None:
    """The whole file's size the server declares: ``Content-Range``'s total for a range, else Content-Length."""
    if response.status == 206:
        declared = (response.headers.get("Content-Range") or "").rpartition("/")[2]
    else:
        declared = response.headers.get("Content-Length") or ""
    return int(declared) if declared.isdigit() else None


def _hash_file(path: Path, hashes: Iterable[Any], chunk_bytes: int) -> None:
    """Feed what ``path`` holds into ``hashes`` (a resumed download is verified whole)."""
    with path.open("rb") as file:
        while chunk := file.read(chunk_bytes):
            for h in hashes:
                h.update(chunk)


def _unreachable(url: str, reason: object, folder: Path) -> ArticulateError:
    """The one-line answer to a server that cannot be reached (DNS, refused, timed out), with what to do."""
    host = urllib.parse.urlsplit(url).netloc
    why = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return ArticulateError(f"cannot reach {host} ({why}) (offline? set fetch.quickdraw_url=... to a mirror, or copy "
                           f"the <class>.ndjson files to {folder})")


class _Download:
    """One class's file, downloaded into its ``.part`` over as many requests as it takes."""

    def __init__(self, name: str, url: str, dest: Path, timeout_s: float, chunk_bytes: int, progress: bool | None):
        self.name, self.url, self.dest = name, url, dest
        self.part = dest.with_name(dest.name + PART_SUFFIX)
        self.timeout_s, self.chunk_bytes, self.progress = timeout_s, chunk_bytes, progress

    def attempt(self) -> tuple[str, str | None, int | None]:
        """One request: continue the ``.part`` from its end (or start it) and read to the end of the answer.

        Returns:
            Once the ``.part`` is complete and verified: its SHA-256 (hex), and the MD5 (base64) and the size the
            server declared (None where it declared none).

        Raises:
            _Lost: The connection broke or stalled; the ``.part`` keeps what arrived.
            _Restart: The server cannot continue this ``.part``.
            ArticulateError: The server cannot be reached, or answered with an error.
        """
        offset = self.part.stat().st_size if self.part.is_file() else 0
        request = urllib.request.Request(self.url, headers={"Accept-Encoding": "identity",
                                                            **({"Range": f"bytes={offset}-"} if offset else {})})
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)  # noqa: S310 (an http(s) URL)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 416:
                raise _Restart from None
            if err.code == 404:
                raise ArticulateError(f"{self.name!r}: no such file at {self.url} (HTTP 404): not a class there; "
                                      "check the name, or fetch.quickdraw_url") from None
            if err.code in (408, 429) or err.code >= 500:
                raise _Lost(f"HTTP {err.code} {err.reason}") from None
            raise ArticulateError(f"{self.url}: HTTP {err.code} {err.reason}") from None
        except urllib.error.URLError as err:
            raise _unreachable(self.url, err.reason, self.dest.parent) from None
        except (http.client.HTTPException, ConnectionError, TimeoutError) as err:
            raise _Lost(str(err) or type(err).__name__) from None
        with response:
            if response.status != 206:
                offset = 0  # the whole file, from its first byte (a server that ignores Range)
            elif not (response.headers.get("Content-Range") or "").startswith(f"bytes {offset}-"):
                raise _Restart
            return self._receive(response, offset)

    def _receive(self, response: http.client.HTTPResponse, offset: int) -> tuple[str, str | None, int | None]:
        """Append the answer's body to the ``.part`` (from ``offset``), hashing the whole file as it grows."""
        from tqdm import tqdm

        sha256, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 (md5: the server's checksum, not security)
        total = _total_size(response)
        with self.part.open("r+b" if offset else "wb") as file:
            file.truncate(offset)
            if offset:
                _hash_file(self.part, (sha256, md5), self.chunk_bytes)
                file.seek(offset)
            with tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=self.name,
                      disable=None if self.progress is None else not self.progress, leave=False) as bar:
                while True:
                    try:
                        chunk = response.read(self.chunk_bytes)
                    except (http.client.HTTPException, OSError) as err:  # a dropped or stalled connection
                        file.flush()
                        os.fsync(file.fileno())
                        raise _Lost(type(err).__name__ if not str(err) else f"{type(err).__name__}: {err}") from None
                    if not chunk:
                        break
                    file.write(chunk)
                    sha256.update(chunk)
                    md5.update(chunk)
                    bar.update(len(chunk))
            file.flush()
            os.fsync(file.fileno())
            size = file.tell()
        if total is not None and size < total:
            raise _Lost(f"the answer ended at {size} of {total} bytes")
        declared = _declared_md5(response.headers)
        self._verify(size, total, base64.b64encode(md5.digest()).decode(), declared)
        return sha256.hexdigest(), declared, total

    def _verify(self, size: int, total: int | None, md5: str, declared: str | None) -> None:
        """Refuse a ``.part`` whose size or MD5 is not what the server declared: it is removed."""
        problem = None
        if total is not None and size != total:
            problem = f"{size} bytes, the server declared {total}"
        elif declared is not None and md5 != declared:
            problem = f"md5 {md5}, the server declared {declared}"
        if problem:
            self.part.unlink(missing_ok=True)
            raise ArticulateError(f"{self.name!r}: checksum mismatch ({problem}); removed {self.part.name}, run the "
                                  "command again to download it afresh")


def fetch_quickdraw(
    classes: Sequence[str],
    folder: str | os.PathLike[str],
    base_url: str,
    timeout_s: float,
    retries: int,
    chunk_bytes: int,
    progress: bool | None = None,
) -> list[Fetched]:
    """Download the classes' simplified ndjson files into ``folder``, one class after another.

    Args:
        classes: Class names as the dataset spells them (see :func:`resolve_classes`).
        folder: Where the ``<class>.ndjson`` files and the lock file go (created if missing).
        base_url: The folder's URL (``fetch.quickdraw_url``).
        timeout_s: Seconds without an answer or a byte before a connection counts as lost.
        retries: Times a lost connection is resumed in this call before it gives up.
        chunk_bytes: Bytes read and written at a time.
        progress: Show a progress bar: True, False, or None for only on a terminal.

    Returns:
        One :class:`Fetched` per class, in the order given.

    Raises:
        ConfigError: A setting out of range.
        ArticulateError: The server cannot be reached, answers with an error or a file that does not match its
            checksum, the connection was lost more than ``retries`` times (the ``.part`` stays, to be resumed),
            the folder cannot be written, or another fetch is writing to it.
    """
    from filelock import FileLock, Timeout

    if retries < 0 or chunk_bytes <= 0 or timeout_s <= 0:
        raise ConfigError(f"fetch: retries must be >= 0 (got {retries}), chunk_bytes and timeout_s > 0 (got "
                          f"{chunk_bytes}, {timeout_s})")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        guard = FileLock(str(folder / ".fetching.lock"), timeout=0).acquire()
    except Timeout:
        raise ArticulateError(f"{folder}: another `articulate data fetch` is writing here; wait for it to end") from None
    except OSError as err:
        raise ArticulateError(f"cannot write to {folder} ({err.strerror or err}); choose another folder") from None
    with guard:
        lock_path = folder / LOCK_NAME
        recorded = _read_lock(lock_path)
        results = []
        for name in classes:
            dest = folder / f"{name}.ndjson"
            entry = recorded.get(dest.name)
            if dest.is_file():
                size = dest.stat().st_size
                cached = isinstance(entry, dict) and entry.get("bytes") == size
                results.append(Fetched(name, dest, "cached" if cached else "present", size,
                                       entry.get("sha256") if cached else None))
                continue
            url = class_url(base_url, name)
            download = _Download(name, url, dest, timeout_s, chunk_bytes, progress)
            try:
                sha256, md5, total = _attempts(download, retries)
            except OSError as err:  # the disk: full, read-only
                raise ArticulateError(f"cannot write {download.part} ({err.strerror or err}); free some space or "
                                      "choose another folder, then run again to resume") from None
            size = download.part.stat().st_size
            recorded[dest.name] = {"class": name, "url": url, "bytes": size, "sha256": sha256, "md5": md5,
                                   "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            _write_lock(lock_path, recorded)  # first: a crash before the rename leaves a .part to resume
            os.replace(download.part, dest)
            checked = " and ".join(w for w, v in (("md5", md5), ("size", total)) if v is not None) or "nothing"
            results.append(Fetched(name, dest, "downloaded", size, sha256, checked))
    return results


def _attempts(download: _Download, retries: int) -> tuple[str, str | None, int | None]:
    """:meth:`_Download.attempt` until the file is complete: a lost connection is resumed ``retries`` times."""
    lost = 0
    while True:
        try:
            return download.attempt()
        except _Restart:
            have = download.part.stat().st_size if download.part.is_file() else 0
            download.part.unlink(missing_ok=True)
            reason, then = f"the server cannot continue the {have} bytes of the partial file", "starting it again"
        except _Lost as err:
            have = download.part.stat().st_size if download.part.is_file() else 0
            reason, then = f"the download stopped at {have} bytes ({err})", "resuming"
        lost += 1
        if lost > retries:
            raise ArticulateError(f"{download.name!r}: {reason}, {lost} times; run the command again to resume "
                                  f"({download.part})")
        print(f"{download.name}: {reason}; {then}", flush=True)
