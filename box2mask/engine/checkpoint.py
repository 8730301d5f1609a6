"""detectron2's checkpointer with crash-safe writes and a record of how much of the model a
checkpoint filled."""
import os

import torch
from detectron2.checkpoint import DetectionCheckpointer

__all__ = ["Box2MaskCheckpointer"]


class Box2MaskCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that writes each checkpoint and ``last_checkpoint`` to a
    temporary file renamed into place (a process killed while writing leaves the previous pair
    intact), and records in ``loaded`` / ``expected`` how many of the model's parameters and
    buffers the last load filled (0 of n when there was nothing to load)."""

    def __init__(self, model, save_dir: str = "", **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.loaded, self.expected = 0, len(model.state_dict())

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        _write_atomically(save_file, lambda f: torch.save(data, f), "wb")
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        _write_atomically(
            os.path.join(self.save_dir, "last_checkpoint"),
            lambda f: f.write(last_filename_basename),
            "w",
        )

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        not_loaded = set(incompatible.missing_keys) | {k for k, *_ in incompatible.incorrect_shapes}
        self.loaded = self.expected - len(not_loaded)
        return incompatible


def _write_atomically(path: str, write, mode: str) -> None:
    """``write(f)`` into ``path.tmp``, flushed to disk, then renamed to ``path``."""
    tmp = f"{path}.tmp"
    with open(tmp, mode) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
