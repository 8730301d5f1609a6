"""Tiny Box2Mask-T set-up shared by the tests: a weightless 4-level conv backbone and a cfg."""

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from box2mask import add_box2mask_config

NUM_CLASSES = 3


class TinyBackbone(Backbone):
    """res2..res5 at strides 4, 8, 16, 32 with a few channels each."""

    CHANNELS = {"res2": 8, "res3": 16, "res4": 16, "res5": 16}

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.res3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.res4 = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        self.res5 = nn.Conv2d(16, 16, 3, stride=2, padding=1)

    def forward(self, x):
        r2 = torch.relu(self.stem(x))
        r3 = torch.relu(self.res3(r2))
        r4 = torch.relu(self.res4(r3))
        return {"res2": r2, "res3": r3, "res4": r4, "res5": torch.relu(self.res5(r4))}

    def output_shape(self):
        strides = {"res2": 4, "res3": 8, "res4": 16, "res5": 32}
        return {k: ShapeSpec(channels=c, stride=strides[k]) for k, c in self.CHANNELS.items()}


if "build_tiny_t_test_backbone" not in BACKBONE_REGISTRY:

    @BACKBONE_REGISTRY.register()
    def build_tiny_t_test_backbone(cfg, input_shape):
        return TinyBackbone()


def make_tiny_cfg(supervision: str = "box"):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "Box2MaskT"
    cfg.MODEL.BACKBONE.NAME = "build_tiny_t_test_backbone"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.BOX2MASK.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.BOX2MASK.SUPERVISION = supervision
    cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT = 5.0
    cfg.MODEL.BOX2MASK.LOSS.FEATURE_GUIDE_CHANNELS = 1
    t = cfg.MODEL.BOX2MASK_T
    t.CONVS_DIM = 32
    t.MASK_DIM = 32
    t.HIDDEN_DIM = 32
    t.NHEADS = 4
    t.DIM_FEEDFORWARD = 64
    t.DEC_LAYERS = 3
    t.NUM_QUERIES = 8
    t.ENC_LAYERS = 1
    t.ENC_NHEADS = 4
    t.ENC_N_POINTS = 2
    t.ENC_DIM_FEEDFORWARD = 64
    cfg.TEST.DETECTIONS_PER_IMAGE = 10
    return cfg


@pytest.fixture
def tiny_cfg():
    return make_tiny_cfg()
