"""The thread count chosen when the command starts on a busy machine."""

from denselora.cli import threads


def test_a_busy_machine_leaves_the_busy_cores_and_says_so_in_one_line(monkeypatch, capsys):
    chosen = []
    monkeypatch.setattr(threads.torch, "set_num_threads", chosen.append)
    monkeypatch.setattr(threads.torch, "get_num_threads", lambda: 4)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for name in threads.THREAD_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.6, 2.6, 2.6))
    assert threads.share_busy_cores() == 1 and chosen == [1]
    assert capsys.readouterr().err == (
        "the machine is busy (load 2.6 on 4 cores): PyTorch uses 1 thread(s) instead of 4; set OMP_NUM_THREADS to "
        "choose\n"
    )
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 9.0, 9.0))  # never fewer than one
    assert threads.share_busy_cores() == 1 and chosen == [1, 1]
    capsys.readouterr()
    monkeypatch.setenv("MKL_NUM_THREADS", "2")  # the user chose: nothing to change or say
    assert threads.share_busy_cores() is None
    monkeypatch.delenv("MKL_NUM_THREADS")
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.9, 1.9, 1.9))  # under half the cores: not busy
    assert threads.share_busy_cores() is None
    assert chosen == [1, 1] and capsys.readouterr().err == ""
