"""Shared by the testbed tests: registration under a temporary root, a 2-iteration
``train_net.py`` run of a testbed config on CPU, a snapshot of raw folders."""
import hashlib
import importlib.util
import os
from pathlib import Path

import pytest
import torch

from box2mask.data.testbeds import register_testbeds

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("train_net", ROOT / "train_net.py")
train_net = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_net)

# The paper configs, shrunk for a CPU smoke run: no ImageNet weights (no network here),
# 64-pixel inputs, 2 iterations of 2 images.
TINY = [
    "MODEL.WEIGHTS", "",
    "MODEL.DEVICE", "cpu",
    "SOLVER.IMS_PER_BATCH", "2",
    "SOLVER.MAX_ITER", "2",
    "SOLVER.STEPS", "()",
    "SOLVER.WARMUP_ITERS", "1",
    "SOLVER.CHECKPOINT_PERIOD", "1000",
    "INPUT.MIN_SIZE_TRAIN", "(64,)",
    "INPUT.MAX_SIZE_TRAIN", "96",
    "INPUT.MIN_SIZE_TEST", "64",
    "INPUT.MAX_SIZE_TEST", "96",
    "DATALOADER.NUM_WORKERS", "0",
]


@pytest.fixture
def testbeds_under(tmp_path):
    """Registers the testbed names under ``tmp_path/datasets`` for one test, then back."""
    root = tmp_path / "datasets"
    register_testbeds(str(root))
    yield root
    register_testbeds(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))


def train_and_evaluate(config: str, output_dir: Path, *opts: str) -> dict:
    """``train_net.py --config-file configs/<config>`` with ``TINY`` and ``opts`` (flags such
    as ``--eval-only`` and config overrides); returns the final evaluation results."""
    torch.manual_seed(0)
    flags = [o for o in opts if o.startswith("--")]
    argv = ["--config-file", str(ROOT / "configs" / config), *flags, *TINY,
            "OUTPUT_DIR", str(output_dir), *(o for o in opts if not o.startswith("--"))]
    return train_net.main(train_net.argument_parser().parse_args(argv))


def snapshot(folder: Path) -> dict:
    """Relative path → content hash of every file under ``folder`` (to show it is unchanged)."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
