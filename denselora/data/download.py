"""The LLM-Adapters data files, fetched and checked (``python -m denselora data download``).

The files come from `AGI-Edgerunners/LLM-Adapters <https://github.com/AGI-Edgerunners/LLM-Adapters>`_ at one
pinned commit, :data:`LLM_ADAPTERS_COMMIT`, or from a mirror laid out like that repository (an http(s) base URL,
or a local folder). :data:`MANIFEST` holds each file's git blob SHA-1 at that commit, so a file is checked against
what the paper's authors published, whatever the mirror, before it takes its place under ``data_dir``:

- a file is written to ``<file>.part`` and renamed into place only once its hash matches, so a file under
  ``data_dir`` is either the published one or absent;
- an interrupted download keeps its ``.part``, and the next run asks for the rest (an HTTP Range request);
- a file already in place whose hash matches is kept and not fetched again; one whose hash differs is reported
  and left as it is (it may be someone's edited copy).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shlex
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from tqdm import tqdm

from denselora.errors import ConfigError, UserError
from denselora.tasks import COMMONSENSE_DATASETS, MATH_DATASETS

__all__ = [
    "DEFAULT_MIRROR",
    "LLM_ADAPTERS_COMMIT",
    "MANIFEST",
    "PAPER_TRAINING_FILES",
    "SET_GROUPS",
    "TRAINING_CHOICES",
    "ChecksumError",
    "DownloadError",
    "DownloadSummary",
    "ManifestEntry",
    "OfflineError",
    "download_command",
    "download_files",
    "fetch_command",
    "git_blob_sha1",
    "mirror_location",
    "parse_mirror",
    "select_files",
]

LLM_ADAPTERS_REPOSITORY = "AGI-Edgerunners/LLM-Adapters"
#: The commit whose files :data:`MANIFEST` describes.
LLM_ADAPTERS_COMMIT = "816657208af4db747803f87ba40a4c71383fed7a"
#: Where the files come from unless ``--mirror`` says otherwise: the commit's raw files on GitHub.
DEFAULT_MIRROR = f"https://raw.githubusercontent.com/{LLM_ADAPTERS_REPOSITORY}/{LLM_ADAPTERS_COMMIT}/"
#: The suffix of a file being downloaded, beside where the file goes.
PART_SUFFIX = ".part"


class ManifestEntry(NamedTuple):
    """A published file: its git blob SHA-1 at :data:`LLM_ADAPTERS_COMMIT`, and its size in bytes where known."""

    blob_sha1: str
    size: int | None


#: Path in the repository -> the file published there. The sizes of the largest files are unknown (``None``):
#: the mirror the hashes were read from holds only their blob ids.
MANIFEST: dict[str, ManifestEntry] = {
    "DATA_LICENSE": ManifestEntry("fc5b567da08fbcf8f2e2c3532b7a50a31d3de16a", 19790),
    "dataset/boolq/test.json": ManifestEntry("6d7edb0a8e8a6566b546ccf0d98d24e48db3fdf3", 899151),
    "dataset/boolq/train.json": ManifestEntry("87a7beee26b49f81c450641ef2ff84f55611321f", 2599507),
    "dataset/piqa/test.json": ManifestEntry("f7a1c260692ef31796d4763cb6334f316a754fed", 913157),
    "dataset/piqa/train.json": ManifestEntry("44326ba946f8bd645bfa7a189e619d29b5bc17e5", None),
    "dataset/social_i_qa/test.json": ManifestEntry("eadf221799ca394367b144c0f86ee0436db409d2", 843748),
    "dataset/social_i_qa/train.json": ManifestEntry("bd524129d80efdfabc8476bbedc4f41b400cfda0", None),
    "dataset/hellaswag/test.json": ManifestEntry("183c4920415f83ba4b793c4873a33e7e10bd1be5", None),
    "dataset/hellaswag/train.json": ManifestEntry("ca68dc85fc2a2f73c9b1b8b0823cc41a8f669718", None),
    "dataset/winogrande/test.json": ManifestEntry("21257263593dd4d00546e1918c88ca0f357b08ad", 497409),
    "dataset/winogrande/train.json": ManifestEntry("0b56375ac6b4464fa97abfb72812f15c772ba305", None),
    "dataset/ARC-Challenge/test.json": ManifestEntry("9540685439144200b5a7e48dab9ca4655be2af09", 622510),
    "dataset/ARC-Challenge/train.json": ManifestEntry("d7e080b04bff9fd16dd85455fb04481807a088d8", 585556),
    "dataset/ARC-Easy/test.json": ManifestEntry("6c0d30aaedaeca148df6bcd7aaacf7c31e6ad70f", 1157216),
    "dataset/ARC-Easy/train.json": ManifestEntry("488a8e5e5bbbd7a630ebbfe07a1fd91b7d9d8c9b", 1092324),
    "dataset/openbookqa/test.json": ManifestEntry("a6e69676104bcb77237388c3b5a3f0dcbb81d1e2", 202545),
    "dataset/openbookqa/train.json": ManifestEntry("75bcd5eb9f5e77a3796c05e6bb38f169d19563fc", 1987446),
    "dataset/gsm8k/test.json": ManifestEntry("57a7a08e10e12e975e1f972d2b8125c0d4c722b1", 824475),
    "dataset/AQuA/test.json": ManifestEntry("731fbb456f7a93bb4121125de09c4adcf42e5dab", 152063),
    "dataset/AddSub/test.json": ManifestEntry("f3996cdf4159b4e1e4b6768865a4db72105f4e2f", 170411),
    "dataset/SVAMP/test.json": ManifestEntry("98b8f1872db596f8aaff2c95d1d698a9fa13b94f", 459713),
    "dataset/MultiArith/test.json": ManifestEntry("08e996c6cd8c633cc977f5c50709a8bbfc8fadff", 275458),
    "dataset/SingleEq/test.json": ManifestEntry("cce7a868400323e30e2094a15d482c1aa743dbb0", 212001),
    "dataset/mawps/test.json": ManifestEntry("eca473c5b5d398acbae0b84ede833bbbccd63add", 60202),
    "ft-training_set/commonsense_170k.json": ManifestEntry("529e426b33d4cdb1d0c4a275a1a7245ad081fd91", None),
    "ft-training_set/math_10k.json": ManifestEntry("27dba77d6ed80aa118d78fbafa5cecd651f6d463", None),
}

#: The groups of test sets ``--sets`` can name, with the sets of each.
SET_GROUPS: dict[str, tuple[str, ...]] = {"commonsense": COMMONSENSE_DATASETS, "math": MATH_DATASETS}
#: The training file of the paper's runs for each group (the math sets have no training split of their own).
PAPER_TRAINING_FILES = {"commonsense": "ft-training_set/commonsense_170k.json", "math": "ft-training_set/math_10k.json"}
#: What ``--training`` may ask for: both kinds of training file, the paper's files, each set's own split, none.
TRAINING_CHOICES = ("all", "paper", "splits", "none")
#: Fetched with any selection: the terms under which LLM-Adapters publishes the data.
LICENSE_FILE = "DATA_LICENSE"
_CHUNK = 1 << 20
_LINE_EVERY_SECONDS = 30.0


class DownloadError(UserError):
    """A file could not be fetched; the message names it and says what to do."""


class OfflineError(DownloadError, OSError):
    """The mirror cannot be reached at all (no network, a firewall, a wrong host)."""


class ChecksumError(DownloadError, ValueError):
    """A fetched file is not the published one; nothing was put in its place."""


def git_blob_sha1(path: Path) -> str:
    """The hash git gives the file's content: SHA-1 over ``b"blob <size>\\0"`` and the bytes."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _set_names(names: Iterable[str]) -> list[str]:
    """The sets that ``names`` (groups, ``all`` or set names, in any case) stand for, in the registry's order."""
    known = [name for members in SET_GROUPS.values() for name in members]
    by_lower = {name.lower(): name for name in known}
    chosen: set[str] = set()
    for name in names:
        if name == "all":
            chosen.update(known)
        elif name in SET_GROUPS:
            chosen.update(SET_GROUPS[name])
        elif name.lower() in by_lower:
            chosen.add(by_lower[name.lower()])
        else:
            raise ConfigError(
                f"unknown set {name!r}: name all, {', '.join(SET_GROUPS)}, or sets among {', '.join(known)}"
            )
    return [name for name in known if name in chosen]


def select_files(
    names: Sequence[str] = ("all",), training: str = "all", manifest: Mapping[str, ManifestEntry] | None = None
) -> list[str]:
    """The manifest's paths that the sets ``names`` need, in the manifest's order.

    Each set brings its ``dataset/<name>/test.json``; ``training`` adds each set's own ``train.json`` where
    LLM-Adapters has one (``splits``), the paper's training file of each group a chosen set belongs to
    (``paper``: ``commonsense_170k.json``, ``math_10k.json``), both (``all``) or neither (``none``). The data's
    license comes with any selection.

    Args:
        names: ``all``, a group (``commonsense``, ``math``) or set names such as ``boolq``.
        training: one of :data:`TRAINING_CHOICES`.
        manifest: path -> published file; :data:`MANIFEST` when ``None``.

    Raises:
        ConfigError: an unknown set or group, or an unknown ``training`` choice.
    """
    if training not in TRAINING_CHOICES:
        raise ConfigError(f"unknown training choice {training!r}; choose one of {', '.join(TRAINING_CHOICES)}")
    manifest = MANIFEST if manifest is None else manifest
    sets = _set_names(names)
    wanted = {LICENSE_FILE, *(f"dataset/{name}/test.json" for name in sets)}
    if training in ("all", "splits"):
        wanted.update(f"dataset/{name}/train.json" for name in sets)
    if training in ("all", "paper"):
        wanted.update(PAPER_TRAINING_FILES[group] for group, members in SET_GROUPS.items() if set(members) & set(sets))
    return [path for path in manifest if path in wanted]


def download_command(data_dir: Path | str, sets: Sequence[str] = (), training: str = "all") -> str:
    """The command line that fetches ``sets`` (all of them when empty) with ``training`` into ``data_dir``."""
    line = f"python -m denselora data download --data-dir {shlex.quote(str(data_dir))}"
    if sets:
        line += f" --sets {' '.join(sets)}"
    return line if training == "all" else f"{line} --training {training}"


def fetch_command(data_dir: Path | str, paths: Iterable[str]) -> str | None:
    """The command line that fetches the files ``paths`` (relative to ``data_dir``), for the messages that find
    them missing; ``None`` when one of them is not a file the command fetches."""
    paths = list(paths)
    if not paths or any(path not in MANIFEST for path in paths):
        return None
    groups = {file: group for group, file in PAPER_TRAINING_FILES.items()}
    sets, kinds = [], set()
    for path in paths:
        if path in groups:
            sets.append(groups[path])
            kinds.add("paper")
        elif path.startswith("dataset/"):
            _, name, file = path.split("/")
            sets.append(name)
            kinds.add("splits" if file == "train.json" else "test")
    if {"paper", "splits"} <= kinds:
        training = "all"
    else:
        training = "paper" if "paper" in kinds else "splits" if "splits" in kinds else "none"
    return download_command(data_dir, list(dict.fromkeys(sets)), training)


def parse_mirror(value: str) -> str | Path:
    """Where ``--mirror`` points: an http(s) base URL (returned ending in ``/``), or a local folder.

    Raises:
        ConfigError: another URL scheme, or a folder that does not exist.
    """
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme in ("http", "https"):
        return value if value.endswith("/") else value + "/"
    if parsed.scheme == "file":
        folder = Path(urllib.request.url2pathname(parsed.path))
    elif len(parsed.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ConfigError(f"--mirror {value}: give an http(s) URL, a file:// URL or a folder")
    else:
        folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"--mirror {value}: no such folder (a copy laid out like the LLM-Adapters repository)")
    return folder.resolve()


@dataclass
class DownloadSummary:
    """What a download did: the files fetched, those already in place, and those it could not put there."""

    data_dir: Path
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    #: Files in place whose content is not the published one: path -> the blob SHA-1 found.
    differing: dict[str, str] = field(default_factory=dict)
    #: Files the mirror does not have: path -> where they were looked for.
    missing: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """One line: what was fetched and what was in place."""
        return (
            f"fetched {len(self.fetched)} file(s) ({_size(self.bytes_fetched)}), {len(self.present)} already "
            f"present, into {self.data_dir}"
        )

    def problem(self) -> str | None:
        """What went wrong with some files and how to fix it; ``None`` when every file is in place."""
        parts = []
        if self.differing:
            found = "; ".join(f"{path} (blob sha1 {sha1})" for path, sha1 in self.differing.items())
            parts.append(
                f"files in place that differ from those LLM-Adapters published at {LLM_ADAPTERS_COMMIT[:12]}, left as "
                f"they are: {found}. Move them aside (or delete them) and run the command again to fetch the "
                "published ones"
            )
        if self.missing:
            found = "; ".join(f"{path} ({where})" for path, where in self.missing.items())
            parts.append(f"files the mirror does not have: {found}. Give --mirror a copy that has them")
        return ". ".join(parts) + "." if parts else None


def download_files(
    data_dir: Path | str,
    paths: Sequence[str],
    mirror: str | Path = DEFAULT_MIRROR,
    manifest: Mapping[str, ManifestEntry] | None = None,
    *,
    terminal: bool | None = None,
    timeout: float = 60.0,
) -> DownloadSummary:
    """Put each of ``paths`` under ``data_dir``, checked against the manifest.

    Args:
        data_dir: the folder to fill, laid out like the repository (created when missing).
        paths: paths of the manifest (see :func:`select_files`).
        mirror: an http(s) base URL, or a local folder (see :func:`parse_mirror`).
        manifest: path -> published file; :data:`MANIFEST` when ``None``.
        terminal: a progress bar when true, plain lines on standard error when false; when ``None``, a bar
            exactly when standard error is a terminal (a bar redrawn in a log file is noise).
        timeout: seconds to wait for the mirror to answer.

    Returns:
        What was fetched and found; files present with other content, and files the mirror lacks, are listed
        there (:meth:`DownloadSummary.problem`) rather than raised, so that the other files still come.

    Raises:
        OfflineError: the mirror cannot be reached.
        ChecksumError: a fetched file is not the published one (its ``.part`` is deleted).
        DownloadError: the mirror refused a file, or a transfer stopped (its ``.part`` is kept for the next run).
    """
    manifest = MANIFEST if manifest is None else manifest
    data_dir = Path(data_dir).expanduser().resolve()
    terminal = sys.stderr.isatty() if terminal is None else terminal
    if isinstance(mirror, str) and not mirror.endswith("/"):
        mirror += "/"
    summary = DownloadSummary(data_dir)
    for path in paths:
        entry = manifest[path]
        destination = data_dir / path
        if destination.exists():
            found = git_blob_sha1(destination)
            if found == entry.blob_sha1:
                summary.present.append(path)
            else:
                summary.differing[path] = found
            continue
        try:
            summary.bytes_fetched += _fetch(mirror, path, entry, destination, terminal, timeout)
        except _NotOnMirror as absent:
            summary.missing[path] = str(absent)
            continue
        summary.fetched.append(path)
    return summary


class _NotOnMirror(Exception):
    """The mirror has no such file; the message says where it was looked for."""


def _fetch(
    mirror: str | Path, path: str, entry: ManifestEntry, destination: Path, terminal: bool, timeout: float
) -> int:
    """Fetch one file through its ``.part`` and rename it into place once checked; the bytes transferred."""
    part = destination.with_name(destination.name + PART_SUFFIX)
    destination.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.is_file() else 0
    if entry.size is not None and have > entry.size:
        part.unlink()  # longer than the file: not a prefix of it
        have = 0
    where = mirror_location(mirror, path)
    transferred = 0
    if entry.size is None or have < entry.size:
        opened = _open(mirror, path, where, have, timeout)
        if opened is not None:  # None: the mirror has nothing past ``have``, so the part may be whole
            stream, start, total = opened
            transferred = _receive(stream, part, path, where, start, total, terminal)
    found = git_blob_sha1(part) if part.is_file() else None
    if found != entry.blob_sha1:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{path} from {where} is not the file LLM-Adapters published at {LLM_ADAPTERS_COMMIT[:12]}: blob sha1 "
            f"{found}, expected {entry.blob_sha1}. Nothing was written in its place; run the command again to fetch "
            "it anew, and if this repeats, the mirror holds another version of the file"
        )
    os.replace(part, destination)
    return transferred


def mirror_location(mirror: str | Path, path: str) -> str:
    """Where ``mirror`` (as :func:`parse_mirror` returns it) keeps the repository's file ``path``."""
    if isinstance(mirror, Path):
        return str(mirror / path)
    return mirror + urllib.parse.quote(path)


def _open(
    mirror: str | Path, path: str, where: str, offset: int, timeout: float
) -> tuple[BinaryIO, int, int | None] | None:
    """The file's bytes from ``offset`` on: the stream, where it starts (0 when the mirror sends the whole file)
    and the file's full size when known; ``None`` when the mirror has nothing past ``offset``."""
    if isinstance(mirror, Path):
        source = mirror / path
        if not source.is_file():
            raise _NotOnMirror(f"no file {source}")
        size = source.stat().st_size
        stream = source.open("rb")
        start = offset if offset <= size else 0
        stream.seek(start)
        return stream, start, size
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(where, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:  # Range Not Satisfiable: the part already holds every byte
            return None
        if err.code == 404:
            raise _NotOnMirror(f"HTTP 404 from {where}") from None
        raise DownloadError(
            f"{where} answered HTTP {err.code} {err.reason}; try again later or give --mirror"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise OfflineError(
            f"cannot reach {where} ({reason}); this machine seems to be offline or behind a firewall. Give --mirror "
            "a copy laid out like the LLM-Adapters repository (a folder, a file:// URL, or an http(s) mirror), or "
            "copy the files by hand (--dry-run lists them)"
        ) from None
    total = response.headers.get("Content-Length")
    if response.status == 206:
        start, full = _content_range(response.headers.get("Content-Range", ""))
        if start != offset:
            response.close()
            raise DownloadError(f"{where} sent bytes from {start} when asked for {offset} on; run the command again")
        return response, start, full
    return response, 0, int(total) if total else None


def _content_range(value: str) -> tuple[int | None, int | None]:
    """``bytes <first>-<last>/<size>`` -> (first, size); a part the header does not give is ``None``."""
    try:
        _, _, spec = value.partition(" ")
        first, _, size = spec.partition("/")
        return int(first.partition("-")[0]), (None if size in ("", "*") else int(size))
    except ValueError:
        return None, None


def _receive(stream: BinaryIO, part: Path, path: str, where: str, start: int, total: int | None, terminal: bool) -> int:
    """Write ``stream`` into ``part`` from byte ``start`` on; the bytes received."""
    received = 0
    progress = _progress(path, where, start, total, terminal)
    try:
        with stream, part.open("r+b" if part.exists() else "wb") as out:
            out.seek(start)
            out.truncate()
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                progress(len(chunk))
    except (OSError, http.client.HTTPException) as err:
        progress(None)
        raise DownloadError(
            f"the download of {path} from {where} stopped after {_size(start + received)} ({err}); what came is "
            f"kept in {part}, and running the command again continues from there"
        ) from None
    progress(None)
    # A server that closes the connection early ends the stream without an error; the size tells.
    if total is not None and start + received < total:
        raise DownloadError(
            f"the download of {path} from {where} stopped after {_size(start + received)} of {_size(total)}; what "
            f"came is kept in {part}, and running the command again continues from there"
        )
    return received


def _progress(path: str, where: str, start: int, total: int | None, terminal: bool) -> Callable[[int | None], None]:
    """A callback told each chunk's length as it is written, and ``None`` at the end."""
    resumed = f", resuming at {_size(start)}" if start else ""
    if terminal:
        bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=path, file=sys.stderr, leave=True)

        def update(count: int | None) -> None:
            if count is None:
                bar.close()
            else:
                bar.update(count)

        return update

    # Not a terminal: a line now, one every so often for a large file, and one at the end.
    of = f" of {_size(total)}" if total is not None else ""
    print(f"fetching {path} ({_size(total) if total is not None else 'size unknown'}{resumed}) from {where}",
          file=sys.stderr, flush=True)  # fmt: skip
    done, last = start, time.monotonic()

    def line(count: int | None) -> None:
        nonlocal done, last
        if count is None:
            print(f"{path}: {_size(done)} received", file=sys.stderr, flush=True)
            return
        done += count
        if time.monotonic() - last >= _LINE_EVERY_SECONDS:
            last = time.monotonic()
            print(f"{path}: {_size(done)}{of}", file=sys.stderr, flush=True)

    return line


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    if count < 1_000_000:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1_000_000:.1f} MB"
