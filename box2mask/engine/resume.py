"""What a resumed run needs besides weights, optimizer and schedule: the position in the
training data and the random number generators."""
import itertools
import random
from typing import Optional

import numpy as np
import torch
from detectron2.data.samplers import TrainingSampler

__all__ = ["ResumableTrainingSampler", "find_sampler", "get_rng_state", "set_rng_state"]


class ResumableTrainingSampler(TrainingSampler):
    """detectron2's ``TrainingSampler`` (an infinite shuffled stream, one seed for all
    processes, process r taking every world_size-th index from r) that can start after the
    first ``skip`` indices of this process, with the seed of an earlier run."""

    def __init__(self, size: int, shuffle: bool = True, seed: Optional[int] = None):
        super().__init__(size, shuffle, seed)
        self.skip = 0

    @property
    def seed(self) -> int:
        return self._seed

    def resume(self, seed: int, skip: int) -> None:
        """Continue the stream of ``seed`` after this process's first ``skip`` indices."""
        self._seed, self.skip = int(seed), int(skip)

    def __iter__(self):
        start = self._rank + self.skip * self._world_size
        yield from itertools.islice(self._infinite_indices(), start, None, self._world_size)


def find_sampler(data_loader) -> Optional[ResumableTrainingSampler]:
    """The ``ResumableTrainingSampler`` under a loader of ``build_detection_train_loader``
    (a DataLoader, possibly wrapped by aspect-ratio grouping, over a sampled dataset)."""
    node = data_loader
    for _ in range(4):
        if isinstance(getattr(node, "sampler", None), ResumableTrainingSampler):
            return node.sampler
        node = getattr(node, "dataset", None)
    return None


def get_rng_state() -> dict:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) generators, as tensors and
    plain containers (``torch.load(weights_only=True)`` reads them)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss]
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`get_rng_state`'s states."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
