"""The run's process group is closed before the interpreter exits."""

import torch.distributed as dist

from denselora.distributed.process_group import close_process_group


def test_an_open_group_is_destroyed_and_no_group_is_nothing_to_do(tmp_path):
    close_process_group(finished=True)  # none open: nothing happens
    for finished in (True, False):
        store = dist.FileStore(str(tmp_path / f"store-{finished}"), 1)
        dist.init_process_group("gloo", store=store, rank=0, world_size=1)
        close_process_group(finished=finished)
        assert not dist.is_initialized()
