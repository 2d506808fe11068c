"""How many threads PyTorch may use when the command starts on a machine that other work keeps busy."""

from __future__ import annotations

import os
import sys

import torch

__all__ = ["THREAD_SETTINGS", "share_busy_cores"]

#: The environment variables that say the user chose a thread count; any one of them leaves PyTorch's as it is.
THREAD_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def share_busy_cores() -> int | None:
    """Leave the cores that other work keeps busy to it: PyTorch's threads become the cores the load leaves free.

    PyTorch gives each process one thread per core, and processes that share the cores then slow each other down
    many times over (README, "Install and run"). On a machine whose one-minute load is at least half its cores,
    with no thread count set by the user, the threads become ``cores - load`` (rounded, at least 1), and one line
    on standard error says so. Lightning's DDP still gives each of its processes its own share of the cores.

    Returns:
        The thread count chosen, or ``None`` when PyTorch's was left as it is.
    """
    if any(name in os.environ for name in THREAD_SETTINGS) or not hasattr(os, "getloadavg"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0]
    threads = torch.get_num_threads()
    if load < max(1.0, cores / 2):
        return None
    free = max(1, round(cores - load))
    if free >= threads:
        return None
    torch.set_num_threads(free)
    print(
        f"the machine is busy (load {load:.1f} on {cores} cores): PyTorch uses {free} thread(s) instead of "
        f"{threads}; set OMP_NUM_THREADS to choose",
        file=sys.stderr,
    )
    return free
