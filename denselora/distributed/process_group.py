"""Closing a run's process group before the interpreter exits."""

from __future__ import annotations

import torch.distributed as dist

__all__ = ["close_process_group"]


def close_process_group(finished: bool) -> None:
    """Destroy the default process group, if one is up.

    Lightning destroys it at exit only for NCCL (``lightning.fabric.utilities.distributed._init_dist_connection``
    registers the ``atexit`` handler for that backend alone). A gloo group is then left to the interpreter's
    teardown, where its C++ threads can still be running when their owners are destroyed: the process ends with
    SIGABRT ("terminate called without an active exception") after the run's work is written, more often on a
    busy machine. Destroyed here, the threads are joined while the interpreter is whole.

    Args:
        finished: the command completed on this rank; every rank then waits for the others first, so none closes
            its connections while another still reads from them. A failed command closes its own at once: a
            barrier could wait for ranks that never come.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()
