import multiprocessing

from denselora.cli.new_run_directory import claim_version, release_if_unused


def _claim(root):
    return claim_version(root)[0]


def test_concurrent_claims_get_distinct_versions(tmp_path):
    (tmp_path / "version_3").mkdir()  # numbering continues after what is there
    (tmp_path / "version_x").mkdir()  # not a version
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        versions = pool.map(_claim, [tmp_path] * 24)
    assert sorted(versions) == list(range(4, 28))
    assert all((tmp_path / f"version_{v}").is_dir() for v in versions)


def test_release_removes_only_a_directory_of_a_run_that_produced_nothing(tmp_path):
    _, empty = claim_version(tmp_path / "runs" / "name")
    _, setup_only = claim_version(tmp_path / "runs" / "name")
    _, used = claim_version(tmp_path / "runs" / "name")
    (setup_only / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    (setup_only / "config.yaml").write_text("x")
    (used / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    (used / "checkpoints").mkdir()
    (used / "checkpoints" / "last.ckpt").write_text("x")
    for path in (empty, setup_only, used, empty):  # the second release of `empty` finds it gone: no error
        release_if_unused(path)
    assert not empty.exists() and not setup_only.exists() and (used / "checkpoints" / "last.ckpt").exists()


def test_a_labelled_run_is_numbered_with_the_others_and_named_by_its_label(tmp_path):
    assert claim_version(tmp_path) == (0, tmp_path / "version_0")
    assert claim_version(tmp_path, "test-zero-shot") == (1, tmp_path / "version_1-test-zero-shot")
    assert claim_version(tmp_path, "test") == (2, tmp_path / "version_2-test")
    (tmp_path / "version_9-Not a label").mkdir()  # not a version: numbering ignores it
    assert claim_version(tmp_path) == (3, tmp_path / "version_3")
