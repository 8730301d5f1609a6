from pathlib import Path

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import BACKBONE_REGISTRY, build_model

from box2mask import add_box2mask_config

CONFIGS = Path(__file__).parents[3] / "configs"
T_CONFIGS = sorted(
    [CONFIGS / "Base-Box2Mask-T.yaml"]
    + [p for p in CONFIGS.rglob("*.yaml") if p.name.startswith("box2mask_t_")]
    + list((CONFIGS / "lits").glob("*.yaml"))
)
# Built by the Box2Mask-C branch (box2mask/modeling/backbone/efficientnet_lite.py).
EXTERNAL_BACKBONES = {"build_efficientnet_lite0_backbone"}


def _load(path):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(path))
    return cfg


def test_all_t_configs_found():
    names = {p.relative_to(CONFIGS).as_posix() for p in T_CONFIGS}
    assert {
        "Base-Box2Mask-T.yaml",
        "coco/box2mask_t_R_50_50ep.yaml",
        "voc/box2mask_t_R_50_50ep.yaml",
        "lits/box2mask_t_R_50.yaml",
        "demo/box2mask_t_effnet_lite0.yaml",
    } <= names


@pytest.mark.parametrize("path", T_CONFIGS, ids=lambda p: p.name)
def test_t_config_settings(path):
    cfg = _load(path)
    assert cfg.MODEL.META_ARCHITECTURE == "Box2MaskT"
    assert cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT == 5.0
    assert cfg.MODEL.BOX2MASK.LOSS.FEATURE_GUIDE_CHANNELS == 1
    assert cfg.INPUT.LSJ.ENABLED
    name = cfg.MODEL.BACKBONE.NAME
    assert name in BACKBONE_REGISTRY or name in EXTERNAL_BACKBONES
    t = cfg.MODEL.BOX2MASK_T
    assert t.HIDDEN_DIM % t.NHEADS == 0 and t.CONVS_DIM % t.ENC_NHEADS == 0


def test_base_config_builds_r50_and_runs():
    cfg = _load(CONFIGS / "Base-Box2Mask-T.yaml")
    cfg.MODEL.DEVICE = "cpu"
    t = cfg.MODEL.BOX2MASK_T
    t.ENC_LAYERS, t.DEC_LAYERS, t.NUM_QUERIES, t.DIM_FEEDFORWARD = 1, 3, 10, 64
    t.ENC_DIM_FEEDFORWARD = 64
    torch.manual_seed(0)
    model = build_model(cfg)  # weightless: build_model does not load MODEL.WEIGHTS
    model.eval()
    assert len(model.transformer_decoder.class_embed.weight) == 81
    with torch.no_grad():
        out = model([{"image": torch.zeros(3, 61, 83, dtype=torch.uint8)}])
    inst = out[0]["instances"]
    assert inst.image_size == (61, 83) and len(inst) == 100
