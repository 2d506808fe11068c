"""A small LLM-Adapters mirror for the download tests: fake files in a folder, served over HTTP on 127.0.0.1.

Python's ``SimpleHTTPRequestHandler`` ignores Range requests, so the server here answers them itself (206 with a
Content-Range), and records each request's path and Range header, so that a test can see a resume ask for the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from denselora.data.download import ManifestEntry


def _records(name: str, count: int) -> bytes:
    rows = [{"instruction": f"{name} question {i}?", "input": "", "output": f"answer {i}"} for i in range(count)]
    return json.dumps(rows, indent=2).encode()


#: Path in the repository -> content: a license and a few sets of both groups, with a training file of each kind.
FILES = {
    "DATA_LICENSE": b"The data's license.\n",
    "dataset/boolq/test.json": _records("boolq test", 40),
    "dataset/boolq/train.json": _records("boolq train", 80),
    "dataset/gsm8k/test.json": _records("gsm8k test", 30),
    "ft-training_set/commonsense_170k.json": _records("commonsense", 120),
    "ft-training_set/math_10k.json": _records("math", 60),
}


def blob_sha1(content: bytes) -> str:
    """Git's blob hash, computed here independently of the code under test."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def write_mirror(root: Path) -> dict[str, ManifestEntry]:
    """Write :data:`FILES` under ``root`` as the repository lays them out; the manifest that describes them."""
    for path, content in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return {path: ManifestEntry(blob_sha1(content), len(content)) for path, content in FILES.items()}


class FakeMirror:
    """A folder served over HTTP: ``url`` is its base; ``requests`` lists ``(path, Range header or None)``.

    ``honour_range = False`` makes the server send whole files whatever the Range asked, as some do;
    ``cut_next_after = n`` makes the next answer stop after ``n`` bytes of its body, as a dropped connection does.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.honour_range = True
        self.cut_next_after: int | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.mirror = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def ranges(self) -> list[str]:
        return [header for _, header in self.requests if header]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        mirror: FakeMirror = self.server.mirror  # type: ignore[attr-defined]
        asked = self.headers.get("Range")
        relative = urllib.parse.unquote(self.path.lstrip("/"))
        mirror.requests.append((relative, asked))
        path = mirror.root / relative
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if asked and mirror.honour_range:
            start = int(asked.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut, mirror.cut_next_after = mirror.cut_next_after, None
        self.wfile.write(body if cut is None else body[:cut])

    def log_message(self, format: str, *args) -> None:  # the test output is not a server log
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[FakeMirror]:
    """Serve ``root`` over HTTP on 127.0.0.1 for the block."""
    mirror = FakeMirror(root)
    thread = threading.Thread(target=mirror.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        mirror.server.shutdown()
        mirror.server.server_close()
        thread.join()
