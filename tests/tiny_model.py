"""A tiny Box2Mask-C checkpoint (random weights) for the Predictor, demo, annotate and export
tests: a yaml over the demo config with a 32-channel FPN and heads, and its weights file."""
from pathlib import Path

import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from box2mask import add_box2mask_config

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs/demo/box2mask_c_effnet_lite0.yaml"

TINY_YAML = """_BASE_: "{base}"
MODEL:
  EFFICIENTNET:
    PRETRAINED: False
  FPN:
    OUT_CHANNELS: 32
  BOX2MASK:
    NUM_CLASSES: 2
  BOX2MASK_C:
    NUM_GRIDS: [12, 8, 6, 4, 3]
    SCALE_RANGES: [[1, 24], [12, 48], [24, 96], [48, 192], [96, 2048]]
    TOWER_CHANNELS: 32
    NUM_TOWER_CONVS: 1
    KERNEL_DIM: 32
    MASK_FEATURE_CHANNELS: 32
    # Random weights: a category prior of 0.5 so that the untrained model predicts instances.
    PRIOR_PROB: 0.5
    MASK_PROB_THRESHOLD: 0.5
INPUT:
  MIN_SIZE_TEST: 64
  MAX_SIZE_TEST: 128
"""


def write_tiny_model(root: Path, seed: int = 0):
    """Write ``root/tiny.yaml`` and ``root/tiny.pth`` (seeded random weights); return both."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "tiny.yaml"
    config.write_text(TINY_YAML.format(base=DEMO_CONFIG))
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(config))
    torch.manual_seed(seed)
    model = build_model(cfg)
    weights = root / "tiny.pth"
    torch.save({"model": model.state_dict()}, weights)
    return config, weights
