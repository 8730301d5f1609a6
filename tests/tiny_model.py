"""A tiny Box2Mask-C (random weights) for the tests: the demo config with a 32-channel FPN and
heads (``tiny_c_cfg``), and a yaml + weights file of it for the Predictor, demo, annotate and
export tests (``write_tiny_model``)."""
from pathlib import Path

import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from box2mask import add_box2mask_config

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs/demo/box2mask_c_effnet_lite0.yaml"

TINY_C = [
    "MODEL.EFFICIENTNET.PRETRAINED", False,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.BOX2MASK_C.NUM_GRIDS", [12, 8, 6, 4, 3],
    "MODEL.BOX2MASK_C.SCALE_RANGES", [[1, 24], [12, 48], [24, 96], [48, 192], [96, 2048]],
    "MODEL.BOX2MASK_C.TOWER_CHANNELS", 32,
    "MODEL.BOX2MASK_C.NUM_TOWER_CONVS", 1,
    "MODEL.BOX2MASK_C.KERNEL_DIM", 32,
    "MODEL.BOX2MASK_C.MASK_FEATURE_CHANNELS", 32,
]  # fmt: skip


def tiny_c_cfg(**overrides):
    """The demo Box2Mask-C config shrunk by ``TINY_C``, then ``overrides`` ("A.B.C": value)."""
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(DEMO_CONFIG))
    cfg.merge_from_list(TINY_C)
    for key, value in overrides.items():
        node = cfg
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value
    return cfg


# Random weights: a category prior of 0.5 so that the untrained model predicts instances.
PREDICTOR_OVERRIDES = {
    "MODEL.BOX2MASK.NUM_CLASSES": 2,
    "MODEL.BOX2MASK_C.PRIOR_PROB": 0.5,
    "MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD": 0.5,
    "INPUT.MIN_SIZE_TEST": 64,
    "INPUT.MAX_SIZE_TEST": 128,
}


def write_tiny_model(root: Path, seed: int = 0):
    """Write ``root/tiny.yaml`` and ``root/tiny.pth`` (seeded random weights); return both."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "tiny.yaml"
    cfg = tiny_c_cfg(**PREDICTOR_OVERRIDES)
    config.write_text(cfg.dump())
    torch.manual_seed(seed)
    model = build_model(cfg)
    weights = root / "tiny.pth"
    torch.save({"model": model.state_dict()}, weights)
    return config, weights
