"""The playground's own data: CSV files uploaded from the page, kept by their content's hash.

An upload (``POST /api/upload?name=FILE.csv``, the file's bytes as the body, at most
``MAX_UPLOAD`` bytes) is read by the CLI's CSV reader (``data.csvdata.read_csv``) within the
playground's row limit and kept as ``<sha256>/<its name>`` in the server's upload folder (the
name stays the user's, so the reader's messages name their file). The answer,
``{csv, name, sha256, bytes, columns, rows, target, targets}``, gives the key that the page's
settings then hold (``csv: "<sha256>/<name>"``, in the link too): the server resolves it to the kept file, so the
run's config (``window.backpropviz.config()``, the history file) names that file's path and
``backpropviz run --config`` trains the same run. The file itself is not in the link: a link with
an upload reproduces the run where the file is kept (the default folder outlives the server, in
the system's temporary folder); elsewhere, upload the same file again (the same content gives the
same key); ``GET /api/upload?csv=<sha256>/<name>`` answers the same for a kept file (a page opened
from a link). A file that cannot be read is answered with 400 and one line naming what is wrong.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path

from ..errors import BackpropvizError

MAX_UPLOAD = 1_000_000   # bytes of one file
MAX_UPLOADS = 200        # files one server takes (the folder's disk use stays under 200 MB)
MAX_COLUMNS = 1000       # columns of one file (each is a target or a feature to choose on the page)
UPLOAD_TIMEOUT = 30.0    # seconds an upload may take to arrive
DRAIN_LIMIT = 16_000_000  # a larger body is refused unread (its client may see the connection reset)
KEY = re.compile(r"^([0-9a-f]{64})/([^/\\\x00-\x1f]{1,100})$")  # <sha256>/<name>
# A column of one of these names is taken as the target at first; the page lets the user choose.
TARGET_NAMES = ("label", "labels", "class", "classes", "target", "y", "category", "species")


class UploadError(BackpropvizError):
    """An upload or a config's ``csv`` that the server refuses (a 400 with this line)."""


class TooLarge(UploadError):
    """A file over ``MAX_UPLOAD`` bytes (a 413)."""


def _too_large(name: str, size: int) -> TooLarge:
    return TooLarge(f"{name}: a file to upload has at most {MAX_UPLOAD:,} bytes; got {size:,}. Use a sample of the file")


def default_folder() -> Path:
    """Where uploads are kept: one folder per user in the system's temporary folder."""
    try:
        user = re.sub(r"[^A-Za-z0-9_-]", "_", getpass.getuser())
    except Exception:  # no user name (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"backpropviz-uploads-{user}"


def _display_name(name) -> str:
    """The file's own name, as the page shows it and the reader's messages name it."""
    name = Path(str(name or "")).name
    name = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]", "_", name).strip(" .")[:100]
    return name or "upload.csv"


class Uploads:
    """The uploaded files of one server, by content hash (``<sha256>/<name>`` in ``folder``)."""

    def __init__(self, folder=None, max_rows: int = 2000):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.max_rows = max_rows
        self.count = 0
        self.lock = threading.Lock()

    def add(self, name, body: bytes) -> dict:
        """Read ``body`` as a CSV file; keep it and answer its key, columns and rows."""
        from ..history import atomic_write

        shown = _display_name(name)
        if len(body) > MAX_UPLOAD:
            raise _too_large(shown, len(body))
        if not body.strip():
            raise UploadError(f"{shown} is empty; expected a header row and data rows")
        digest = hashlib.sha256(body).hexdigest()
        self._make_folder()
        # Read under the user's own file name, so that every message names the file they chose.
        with tempfile.TemporaryDirectory(dir=self.folder, prefix=".check-") as staging:
            staged = Path(staging) / shown
            staged.write_bytes(body)
            answer = self._describe(staged, digest, len(body))
        path = self.folder / digest / shown
        with self.lock:
            if not self._intact(path):
                if self.count >= MAX_UPLOADS:
                    raise UploadError(f"this playground server takes at most {MAX_UPLOADS} files; restart it to "
                                      "upload more")
                atomic_write(path, lambda f: f.write(body), now=True)
                self.count += 1
        return answer

    def describe(self, key) -> dict:
        """The answer of ``add`` for a file kept earlier (a link's ``csv``), named by its key."""
        path = self.path(key)
        return self._describe(path, path.parent.name, path.stat().st_size)

    def _describe(self, path: Path, digest: str, size: int) -> dict:
        from ..data.csvdata import read_csv

        header, rows, lines = read_csv(path, self.max_rows)
        if len(header) > MAX_COLUMNS:
            raise UploadError(f"{path.name} has {len(header):,} columns; the playground takes at most {MAX_COLUMNS}")
        if len(header) < 2:
            raise UploadError(f"{path.name} has one column ({header[0]!r}); it needs a target column and at least one "
                              "feature column, separated by commas")
        lower = [h.lower() for h in header]
        target = next((header[lower.index(n)] for n in TARGET_NAMES if n in lower), header[-1])
        return {"csv": f"{digest}/{path.name}", "name": path.name, "sha256": digest, "bytes": size, "columns": header,
                "rows": len(rows), "target": target, "targets": _targets(header, rows, lines, path.name)}

    def path(self, key) -> Path:
        """The kept file that ``key`` (``<sha256>/<name>``, or the kept file's path) names."""
        name = None
        if isinstance(key, str):
            given = Path(key)
            name = key if not given.is_absolute() else f"{given.parent.name}/{given.name}"
            if given.is_absolute() and given.parent.parent.resolve() != self.folder.resolve():
                name = None
        match = KEY.match(name) if name is not None else None
        if match is None or _display_name(match.group(2)) != match.group(2):
            raise UploadError(f"config: csv must name a file uploaded to this playground (the key its upload "
                              f"answered, <sha256>/<name>); got {str(key)[:80]!r}")
        path = self.folder / match.group(1) / match.group(2)
        if not self._intact(path):
            raise UploadError(f"config: the uploaded file {match.group(2)!r} (sha256 {match.group(1)[:12]}…) is not "
                              "kept on this server (a link does not hold the file itself); upload it again")
        return path

    def resolve(self, data):
        """A page's config with its ``csv`` key replaced by the kept file's path (others as given)."""
        if isinstance(data, dict) and data.get("csv") is not None:
            return {**data, "csv": str(self.path(data["csv"]))}
        return data

    def _make_folder(self) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            owner = self.folder.lstat().st_uid
        except OSError as exc:
            raise UploadError(f"cannot keep uploads in {str(self.folder)!r} ({exc.strerror or exc})") from None
        # In a shared temporary folder another user could have made it first: their folder would see the files.
        if hasattr(os, "getuid") and (owner != os.getuid() or self.folder.is_symlink()):
            raise UploadError(f"the upload folder {str(self.folder)!r} belongs to another user or is a link; "
                              "start the server with serve --uploads DIR")

    @staticmethod
    def _intact(path: Path) -> bool:
        """Whether ``path`` holds the content its name's hash says (no other file under that name)."""
        try:
            data = path.read_bytes()
        except OSError:
            return False
        return hashlib.sha256(data).hexdigest() == path.parent.name


def _targets(header, rows, lines, name) -> dict:
    """What each column would be as the target: ``{column: {task, classes}}`` (classes: distinct
    values), as the CSV reader decides it with ``task="auto"``; the page picks a loss that fits."""
    from ..data.csvdata import _task

    out = {}
    for i, column in enumerate(header[:100]):
        labels = [row[i].strip() for row in rows]
        task, _ = _task(labels, "auto", column, name, lines)
        out[column] = {"task": task, "classes": len(set(labels)) if task == "classification" else 0}
    return out


def data_choices(max_rows: int) -> dict:
    """What the page's data panel needs from the server: its texts (en, ja) and limits."""
    from ..data.points import MAX_POINT_CLASSES
    from ..i18n_page import PAGE

    labels = {lang: {k[5:]: v[lang] for k, v in PAGE.items() if k.startswith(("page_points_", "page_upload_"))}
              for lang in ("en", "ja")}
    return {"labels": labels, "max_upload": MAX_UPLOAD, "max_rows": max_rows, "max_classes": MAX_POINT_CLASSES,
            "max_points": max_rows}


def upload_route(uploads: Uploads):
    """The Starlette route ``POST /api/upload?name=FILE`` of ``uploads``."""
    from starlette.requests import ClientDisconnect
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def read(request) -> tuple[bytes, int]:
        """The body (its first MAX_UPLOAD + 1 bytes) and its size. A body somewhat too large is
        read to its end, so that the client hears the answer instead of a reset connection."""
        body, size = bytearray(), 0
        async for part in request.stream():
            size += len(part)
            if len(body) <= MAX_UPLOAD:
                body += part[:MAX_UPLOAD + 1 - len(body)]
            if size > DRAIN_LIMIT:
                break
        return bytes(body), size

    async def upload(request):
        name = _display_name(request.query_params.get("name"))
        length = request.headers.get("content-length", "")
        try:
            if length.isdigit() and int(length) > DRAIN_LIMIT:
                raise _too_large(name, int(length))
            body, size = await asyncio.wait_for(read(request), UPLOAD_TIMEOUT)
            if size > MAX_UPLOAD:
                raise _too_large(name, size)
            answer = await asyncio.to_thread(uploads.add, name, body)
        except asyncio.TimeoutError:
            return JSONResponse({"error": f"{name} did not arrive in full within {UPLOAD_TIMEOUT:g} s"}, status_code=408)
        except ClientDisconnect:
            return Response(status_code=400)
        except BackpropvizError as exc:
            return JSONResponse({"error": str(exc)[:1000]}, status_code=413 if isinstance(exc, TooLarge) else 400)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def described(request):
        try:
            answer = await asyncio.to_thread(uploads.describe, request.query_params.get("csv"))
        except BackpropvizError as exc:
            return JSONResponse({"error": str(exc)[:1000]}, status_code=400)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def endpoint(request):
        return await (upload(request) if request.method == "POST" else described(request))

    return Route("/api/upload", endpoint, methods=["GET", "POST"])
