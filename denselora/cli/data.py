"""``python -m denselora data download``: the LLM-Adapters test sets and training files, fetched into a data folder.

The files are those of AGI-Edgerunners/LLM-Adapters at a pinned commit, each checked against its git blob SHA-1
before it takes its place (:mod:`denselora.data.download`): test sets at ``dataset/<name>/test.json``, each set's
own training split at ``dataset/<name>/train.json`` where there is one, and the paper's training files in
``ft-training_set/``. A second run fetches only what is missing and continues interrupted downloads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from denselora.data import download
from denselora.data.download import (
    DEFAULT_MIRROR,
    LLM_ADAPTERS_COMMIT,
    SET_GROUPS,
    TRAINING_CHOICES,
    DownloadError,
    download_files,
    git_blob_sha1,
    mirror_location,
    parse_mirror,
    select_files,
)

__all__ = ["build_parser", "main"]

_EXAMPLES = """examples:
  python -m denselora data download --data-dir data/llm-adapters                      # everything
  python -m denselora data download --data-dir data/llm-adapters --sets commonsense --training paper
  python -m denselora data download --data-dir data/llm-adapters --sets boolq ARC-Easy --training none
  python -m denselora data download --data-dir data/llm-adapters --mirror /mnt/copy/LLM-Adapters   # a local copy

--training: all (default) both kinds below; paper: the paper's training file of each group a chosen set is in
(ft-training_set/commonsense_170k.json, math_10k.json); splits: each chosen set's own dataset/<name>/train.json
(the commonsense sets have one, the math sets none); none: test sets only.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m denselora data", description="The data the paper's runs read, fetched and checked."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="download")
    fetch = commands.add_parser(
        "download",
        help="fetch the LLM-Adapters test sets and training files",
        description=(
            f"Fetch the LLM-Adapters data (AGI-Edgerunners/LLM-Adapters at {LLM_ADAPTERS_COMMIT[:12]}) into a "
            "folder, each file checked against its published git blob SHA-1. Files already in place are kept; an "
            "interrupted download continues where it stopped."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument(
        "--data-dir", "--data_dir", dest="data_dir", required=True,
        help="the folder to fill, the data_dir of the configs (created when missing)",
    )  # fmt: skip
    fetch.add_argument(
        "--sets", nargs="+", default=["all"], metavar="NAME",
        help=f"all (default), {', '.join(SET_GROUPS)}, or set names such as boolq gsm8k",
    )  # fmt: skip
    fetch.add_argument(
        "--training", choices=TRAINING_CHOICES, default="all",
        help="which training files come with the sets (default all; see below)",
    )  # fmt: skip
    fetch.add_argument(
        "--mirror", default=DEFAULT_MIRROR,
        help="where the files come from: an http(s) base URL, or a folder or file:// URL laid out like the "
        "repository (default: the pinned commit on raw.githubusercontent.com)",
    )  # fmt: skip
    fetch.add_argument("--dry-run", action="store_true", help="list the files, their state and source; fetch nothing")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    paths = select_files(args.sets, args.training)
    mirror = parse_mirror(args.mirror)
    data_dir = Path(args.data_dir).expanduser().resolve()
    if args.dry_run:
        _list(data_dir, paths, mirror)
        return
    summary = download_files(data_dir, paths, mirror)
    print(summary.line())
    problem = summary.problem()
    if problem:
        raise DownloadError(problem)


def _list(data_dir: Path, paths: list[str], mirror: str | Path) -> None:
    """One line per file: its path under ``data_dir``, its size, whether it is there, and where it comes from."""
    for path in paths:
        entry = download.MANIFEST[path]
        destination = data_dir / path
        if destination.exists():
            state = "present" if git_blob_sha1(destination) == entry.blob_sha1 else "present, differs"
        else:
            part = destination.with_name(destination.name + download.PART_SUFFIX)
            state = f"to fetch, {part.stat().st_size} bytes in {part.name}" if part.is_file() else "to fetch"
        size = "size unknown" if entry.size is None else f"{entry.size} bytes"
        print(f"{destination}\t{size}\t{state}\t{mirror_location(mirror, path)}")
