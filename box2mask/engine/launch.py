"""detectron2's ``launch`` on GPUs (DDP over NCCL) and, on a machine without CUDA, the same
processes over gloo: ``--num-gpus N`` then starts N CPU processes per machine."""
import logging
from datetime import timedelta

import detectron2.utils.comm as comm
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import launch as d2_launch
from detectron2.engine.launch import DEFAULT_TIMEOUT, _find_free_port

__all__ = ["launch"]


def launch(
    main_func,
    num_processes_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str = None,
    args=(),
    timeout: timedelta = DEFAULT_TIMEOUT,
):
    """``detectron2.engine.launch`` with the same arguments; without CUDA the processes are CPU
    processes joined over gloo (detectron2's own assumes one GPU per process and NCCL).

    Args:
        main_func: called as ``main_func(*args)`` in every process.
        num_processes_per_machine: processes on this machine (``--num-gpus``).
        num_machines, machine_rank, dist_url: as detectron2's (``dist_url "auto"`` on one
            machine picks a free local port; several machines need ``tcp://HOST:PORT`` of
            machine 0).
    """
    if torch.cuda.is_available():
        return d2_launch(main_func, num_processes_per_machine, num_machines, machine_rank,
                         dist_url, args, timeout)
    world_size = num_machines * num_processes_per_machine
    if world_size == 1:
        return main_func(*args)
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("dist_url 'auto' works on one machine; give tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.spawn(
        _cpu_worker,
        nprocs=num_processes_per_machine,
        args=(main_func, world_size, num_processes_per_machine, machine_rank, dist_url, args,
              timeout),
        daemon=False,
    )


def _cpu_worker(local_rank, main_func, world_size, per_machine, machine_rank, dist_url, args,
                timeout):
    """One CPU process: the gloo group, detectron2's local group of this machine, then main."""
    rank = machine_rank * per_machine + local_rank
    try:
        dist.init_process_group("gloo", init_method=dist_url, world_size=world_size, rank=rank,
                                timeout=timeout)
    except Exception:
        logging.getLogger(__name__).error(f"Process group URL: {dist_url}")
        raise
    for i in range(world_size // per_machine):
        group = dist.new_group(list(range(i * per_machine, (i + 1) * per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group  # detectron2's get_local_rank / size read it
    comm.synchronize()
    main_func(*args)
