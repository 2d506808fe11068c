"""Fetching the LLM-Adapters files: checked, resumable, offline-tested against a local mirror of fake files; and
the manifest against the real files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from denselora.data.download import (
    DEFAULT_MIRROR,
    LLM_ADAPTERS_COMMIT,
    MANIFEST,
    PAPER_TRAINING_FILES,
    ChecksumError,
    DownloadError,
    ManifestEntry,
    OfflineError,
    download_files,
    fetch_command,
    git_blob_sha1,
    parse_mirror,
    select_files,
)
from denselora.errors import ConfigError
from denselora.tasks import COMMONSENSE_DATASETS, MATH_DATASETS
from tests.data.fake_mirror import FILES, blob_sha1, serve, write_mirror

BOOLQ_TEST = "dataset/boolq/test.json"


@pytest.fixture
def mirror_root(tmp_path) -> Path:
    return tmp_path / "mirror"


@pytest.fixture
def manifest(mirror_root) -> dict[str, ManifestEntry]:
    return write_mirror(mirror_root)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


def test_the_git_blob_hash_is_git_s(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"")
    assert git_blob_sha1(path) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # `git hash-object` of an empty file
    path.write_bytes(b"hello\n")
    assert git_blob_sha1(path) == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_the_manifest_has_every_test_set_the_project_names_and_the_paper_s_training_files():
    for name in (*COMMONSENSE_DATASETS, *MATH_DATASETS):
        assert f"dataset/{name}/test.json" in MANIFEST
    for name in COMMONSENSE_DATASETS:  # LLM-Adapters has a training split of each commonsense set, of no math set
        assert f"dataset/{name}/train.json" in MANIFEST
    assert set(PAPER_TRAINING_FILES.values()) <= set(MANIFEST)
    assert MANIFEST["ft-training_set/commonsense_170k.json"].blob_sha1 == "529e426b33d4cdb1d0c4a275a1a7245ad081fd91"
    assert all(len(entry.blob_sha1) == 40 for entry in MANIFEST.values())
    assert LLM_ADAPTERS_COMMIT in DEFAULT_MIRROR


def test_the_manifest_matches_the_real_files(shared_data):
    checked = []
    for path, entry in MANIFEST.items():
        local = shared_data.root / path
        if local.is_file():
            assert git_blob_sha1(local) == entry.blob_sha1, path
            assert entry.size in (None, local.stat().st_size), path
            checked.append(path)
    assert checked, f"{shared_data.root} holds none of the manifest's files"


def test_the_real_files_come_from_a_local_copy(shared_data, data_dir):
    paths = select_files(["AQuA"], training="none")
    assert paths == ["DATA_LICENSE", "dataset/AQuA/test.json"]
    summary = download_files(data_dir, paths, parse_mirror(str(shared_data.root)), terminal=False)
    assert summary.fetched == paths and summary.problem() is None
    for path in paths:
        assert (data_dir / path).read_bytes() == shared_data.path(path).read_bytes()


def test_sets_and_training_files_are_chosen_by_group_or_name():
    everything = select_files()
    assert everything == list(MANIFEST)
    assert select_files(["boolq"], training="none") == ["DATA_LICENSE", BOOLQ_TEST]
    assert select_files(["boolq"], training="splits") == ["DATA_LICENSE", BOOLQ_TEST, "dataset/boolq/train.json"]
    assert select_files(["arc-easy"], training="paper") == [
        "DATA_LICENSE", "dataset/ARC-Easy/test.json", "ft-training_set/commonsense_170k.json",
    ]  # fmt: skip
    math = select_files(["math"], training="all")
    assert set(math) == {
        "DATA_LICENSE",
        *(f"dataset/{n}/test.json" for n in MATH_DATASETS),
        PAPER_TRAINING_FILES["math"],
    }
    commonsense = select_files(["commonsense"], training="splits")
    assert len(commonsense) == 1 + 2 * len(COMMONSENSE_DATASETS)


def test_an_unknown_set_is_one_message_listing_the_names():
    with pytest.raises(ConfigError, match=r"unknown set 'boolqq'.*commonsense, math.*boolq"):
        select_files(["boolqq"])
    with pytest.raises(ConfigError, match="training choice"):
        select_files(["boolq"], training="most")


def test_the_command_for_missing_files_asks_for_those_sets_and_that_kind_of_training_file():
    fetch = "python -m denselora data download --data-dir"
    assert (
        fetch_command("/d x", ["dataset/hellaswag/train.json"]) == f"{fetch} '/d x' --sets hellaswag --training splits"
    )
    assert fetch_command("/d", [PAPER_TRAINING_FILES["math"]]) == f"{fetch} /d --sets math --training paper"
    tests = ["dataset/boolq/test.json", "dataset/piqa/test.json"]
    assert fetch_command("/d", tests) == f"{fetch} /d --sets boolq piqa --training none"
    assert fetch_command("/d", ["dataset/boolq/train.json", PAPER_TRAINING_FILES["commonsense"]]) == (
        f"{fetch} /d --sets boolq commonsense"
    )
    assert fetch_command("/d", ["dataset/gsm8k/train.json"]) is None  # LLM-Adapters has no such file
    assert fetch_command("/d", ["dataset/mine/test.json", BOOLQ_TEST]) is None


def test_mirrors_are_urls_or_folders(tmp_path):
    assert parse_mirror("https://example.org/copy") == "https://example.org/copy/"
    assert parse_mirror(tmp_path.as_uri()) == tmp_path.resolve()
    assert parse_mirror(str(tmp_path)) == tmp_path.resolve()
    with pytest.raises(ConfigError, match="no such folder"):
        parse_mirror(str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="http"):
        parse_mirror("ftp://example.org/copy")


def test_a_fresh_download_fetches_and_checks_every_file(manifest, mirror_root, data_dir, capsys):
    paths = select_files(["boolq"], "splits", manifest)
    with serve(mirror_root) as mirror:
        summary = download_files(data_dir, paths, mirror.url, manifest, terminal=False)
    assert summary.fetched == paths and summary.present == [] and summary.problem() is None
    assert summary.bytes_fetched == sum(len(FILES[path]) for path in paths)
    for path in paths:
        assert (data_dir / path).read_bytes() == FILES[path]
    assert not list(data_dir.rglob("*.part"))
    assert not (data_dir / "dataset" / "gsm8k").exists()
    err = capsys.readouterr().err  # not a terminal: plain lines
    assert f"fetching {BOOLQ_TEST}" in err and "\r" not in err


def test_a_terminal_gets_a_bar(manifest, mirror_root, data_dir, capsys):
    download_files(data_dir, [BOOLQ_TEST], mirror_root, manifest, terminal=True)
    err = capsys.readouterr().err
    assert BOOLQ_TEST in err and "100%" in err


def test_files_in_place_are_not_fetched_again(manifest, mirror_root, data_dir):
    paths = list(manifest)
    with serve(mirror_root) as mirror:
        download_files(data_dir, paths[:2], mirror.url, manifest, terminal=False)
        mirror.requests.clear()
        summary = download_files(data_dir, paths, mirror.url, manifest, terminal=False)
    assert summary.present == paths[:2] and summary.fetched == paths[2:]
    assert [path for path, _ in mirror.requests] == paths[2:]
    assert summary.line().startswith(f"fetched {len(paths) - 2} file(s) (")
    assert f"{2} already present" in summary.line()


def test_a_partial_download_resumes_with_a_range_request(manifest, mirror_root, data_dir):
    content = FILES[BOOLQ_TEST]
    half = len(content) // 2
    part = data_dir / (BOOLQ_TEST + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(content[:half])
    with serve(mirror_root) as mirror:
        summary = download_files(data_dir, [BOOLQ_TEST], mirror.url, manifest, terminal=False)
    assert mirror.ranges() == [f"bytes={half}-"]
    assert summary.bytes_fetched == len(content) - half
    assert (data_dir / BOOLQ_TEST).read_bytes() == content and not part.exists()


def test_a_dropped_connection_keeps_what_came_and_the_next_run_continues(manifest, mirror_root, data_dir):
    content = FILES[BOOLQ_TEST]
    part = data_dir / (BOOLQ_TEST + ".part")
    with serve(mirror_root) as mirror:
        mirror.cut_next_after = 1000
        with pytest.raises(DownloadError, match="running the command again continues") as caught:
            download_files(data_dir, [BOOLQ_TEST], mirror.url, manifest, terminal=False)
        assert BOOLQ_TEST in str(caught.value) and str(part) in str(caught.value)
        assert part.read_bytes() == content[:1000] and not (data_dir / BOOLQ_TEST).exists()
        download_files(data_dir, [BOOLQ_TEST], mirror.url, manifest, terminal=False)
    assert mirror.ranges() == ["bytes=1000-"]
    assert (data_dir / BOOLQ_TEST).read_bytes() == content and not part.exists()


def test_a_server_that_ignores_the_range_still_gives_the_right_file(manifest, mirror_root, data_dir):
    content = FILES[BOOLQ_TEST]
    part = data_dir / (BOOLQ_TEST + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(content[:100])
    with serve(mirror_root) as mirror:
        mirror.honour_range = False
        download_files(data_dir, [BOOLQ_TEST], mirror.url, manifest, terminal=False)
    assert (data_dir / BOOLQ_TEST).read_bytes() == content


def test_a_whole_part_left_unrenamed_is_checked_and_put_in_place(manifest, mirror_root, data_dir):
    content = FILES[BOOLQ_TEST]
    part = data_dir / (BOOLQ_TEST + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(content)
    unknown_size = {BOOLQ_TEST: manifest[BOOLQ_TEST]._replace(size=None)}  # so the mirror is asked, and says 416
    with serve(mirror_root) as mirror:
        summary = download_files(data_dir, [BOOLQ_TEST], mirror.url, unknown_size, terminal=False)
    assert mirror.ranges() == [f"bytes={len(content)}-"]
    assert summary.fetched == [BOOLQ_TEST] and (data_dir / BOOLQ_TEST).read_bytes() == content


def test_a_checksum_mismatch_fails_naming_the_file_and_both_hashes(manifest, mirror_root, data_dir):
    expected = blob_sha1(b"another version")
    wrong = {BOOLQ_TEST: ManifestEntry(expected, None)}
    with serve(mirror_root) as mirror, pytest.raises(ChecksumError) as caught:
        download_files(data_dir, [BOOLQ_TEST], mirror.url, wrong, terminal=False)
    message = str(caught.value)
    assert BOOLQ_TEST in message and expected in message and blob_sha1(FILES[BOOLQ_TEST]) in message
    assert not (data_dir / BOOLQ_TEST).exists() and not list(data_dir.rglob("*.part"))


def test_a_file_in_place_with_other_content_is_reported_and_kept(manifest, mirror_root, data_dir):
    edited = data_dir / BOOLQ_TEST
    edited.parent.mkdir(parents=True)
    edited.write_bytes(b"[]")
    summary = download_files(data_dir, ["DATA_LICENSE", BOOLQ_TEST], mirror_root, manifest, terminal=False)
    assert edited.read_bytes() == b"[]" and summary.fetched == ["DATA_LICENSE"]
    problem = summary.problem()
    assert BOOLQ_TEST in problem and blob_sha1(b"[]") in problem and "Move them aside" in problem


def test_a_file_the_mirror_lacks_is_reported_and_the_others_still_come(manifest, mirror_root, data_dir):
    (mirror_root / BOOLQ_TEST).unlink()
    with serve(mirror_root) as mirror:
        summary = download_files(data_dir, [BOOLQ_TEST, "DATA_LICENSE"], mirror.url, manifest, terminal=False)
    assert summary.fetched == ["DATA_LICENSE"] and list(summary.missing) == [BOOLQ_TEST]
    assert "HTTP 404" in summary.problem() and "--mirror" in summary.problem()


def test_an_unreachable_mirror_is_one_message_naming_the_url(manifest, data_dir):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(OfflineError) as caught:
        download_files(data_dir, [BOOLQ_TEST], url, manifest, terminal=False)
    message = str(caught.value)
    assert f"{url}{BOOLQ_TEST}" in message and "offline" in message and "--mirror" in message
    assert "\n" not in message
