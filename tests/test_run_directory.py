import multiprocessing

from denselora.run_directory import claim_version, release_if_unused


def _claim(root):
    return claim_version(root)[0]


def test_concurrent_claims_get_distinct_versions(tmp_path):
    (tmp_path / "version_3").mkdir()  # numbering continues after what is there
    (tmp_path / "version_x").mkdir()  # not a version
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        versions = pool.map(_claim, [tmp_path] * 24)
    assert sorted(versions) == list(range(4, 28))
    assert all((tmp_path / f"version_{v}").is_dir() for v in versions)


def test_release_removes_only_a_directory_without_a_record_of_its_run(tmp_path):
    _, empty = claim_version(tmp_path / "runs" / "name")
    _, events_only = claim_version(tmp_path / "runs" / "name")
    _, used = claim_version(tmp_path / "runs" / "name")
    (events_only / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    (used / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    (used / "config.yaml").write_text("x")
    for path in (empty, events_only, used, empty):  # the second release of `empty` finds it gone: no error
        release_if_unused(path)
    assert not empty.exists() and not events_only.exists() and (used / "config.yaml").exists()
