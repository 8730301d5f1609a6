"""Exact resumption: a run killed with SIGKILL right after a checkpoint and resumed with
``--resume`` ends with the weights of an uninterrupted run; checkpoints are written crash-safe."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from box2mask.engine import Box2MaskCheckpointer

ROOT = Path(__file__).resolve().parents[2]

# Runs train_net's main; with KILL_AT=k the process SIGKILLs itself right after the checkpoint
# of iteration k is written (the hook runs after detectron2's checkpointer).
RUN = """
import os, signal, sys
sys.path.insert(0, {root!r})
import train_net
from detectron2.engine import HookBase
from box2mask.engine import Trainer

class KillAfterCheckpoint(HookBase):
    def after_step(self):
        if self.trainer.iter == int(os.environ.get("KILL_AT", -1)):
            os.kill(os.getpid(), signal.SIGKILL)

build_hooks = Trainer.build_hooks
Trainer.build_hooks = lambda self: build_hooks(self) + [KillAfterCheckpoint()]
train_net.main(train_net.argument_parser().parse_args(sys.argv[1:]))
"""

TINY = [
    "MODEL.EFFICIENTNET.PRETRAINED", "False",
    "MODEL.BOX2MASK.NUM_CLASSES", "2",
    "SOLVER.IMS_PER_BATCH", "2",
    "SOLVER.STEPS", "()",
    "SOLVER.WARMUP_ITERS", "2",
    "SOLVER.MAX_ITER", "4",
    "SOLVER.CHECKPOINT_PERIOD", "2",
    "INPUT.MIN_SIZE_TRAIN", "(64, 80)",
    "INPUT.MIN_SIZE_TEST", "64",
    "DATALOADER.NUM_WORKERS", "0",
    "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False",
    "TEST.EVAL_PERIOD", "0",
    "DATASETS.TEST", "()",
    "SEED", "7",
]


def _train(out, json_path, image_dir, *flags, kill_at=None):
    argv = [
        sys.executable, "-c", RUN.format(root=str(ROOT)),
        "--config-file", str(ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"),
        "--register-coco", "resume_set", str(json_path), str(image_dir), *flags,
        *TINY, "OUTPUT_DIR", str(out), "DATASETS.TRAIN", "('resume_set',)",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_AT": str(kill_at or -1)}
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_killed_and_resumed_run_equals_uninterrupted_run(coco_set, tmp_path):
    json_path, image_dir = coco_set
    straight = _train(tmp_path / "straight", json_path, image_dir)
    assert straight.returncode == 0, straight.stderr[-3000:]

    killed = _train(tmp_path / "killed", json_path, image_dir, kill_at=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (tmp_path / "killed/last_checkpoint").read_text() == "model_0000001.pth"
    assert not (tmp_path / "killed/model_final.pth").exists()
    resumed = _train(tmp_path / "killed", json_path, image_dir, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = _weights(tmp_path / "straight/model_final.pth")
    b = _weights(tmp_path / "killed/model_final.pth")
    start = _weights(tmp_path / "straight/model_0000001.pth")  # where the resumed run began
    assert a.keys() == b.keys()
    # Equal up to float rounding, measured against the two resumed steps' update: AdamW turns a
    # last-bit difference in a near-zero gradient into a step of up to a learning rate, so the
    # largest weight difference says little (up to 6e-5 with one thread), while the update as a
    # whole differs by 4e-4 of its norm. Resuming without the optimizer state or without the
    # random generators gives 0.90 and 0.99.
    diff = sum(((a[k].double() - b[k].double()) ** 2).sum() for k in a) ** 0.5
    update = sum(((a[k].double() - start[k].double()) ** 2).sum() for k in a) ** 0.5
    assert update > 0
    assert diff / update < 1e-2, (diff / update).item()


def test_checkpoint_write_interrupted_keeps_the_previous_one(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    checkpointer = Box2MaskCheckpointer(model, str(tmp_path))
    checkpointer.save("model_0000001")

    def killed_while_writing(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_while_writing)
    with pytest.raises(KeyboardInterrupt):
        checkpointer.save("model_0000002")
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    assert not (tmp_path / "model_0000002.pth").exists()
    monkeypatch.undo()
    loaded = Box2MaskCheckpointer(torch.nn.Linear(2, 2), str(tmp_path))
    loaded.resume_or_load("", resume=True)
    assert (loaded.loaded, loaded.expected) == (2, 2)
