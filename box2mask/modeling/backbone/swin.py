"""A timm Swin Transformer as a detectron2 ``Backbone`` (res2..res5 at strides 4..32).

Registered as ``build_timm_swin_backbone``; reads ``cfg.MODEL.BOX2MASK_T.SWIN``. ImageNet
weights come from timm (``PRETRAINED``: downloaded by timm from the Hugging Face hub on first
use); expects RGB normalised with ImageNet's mean/std.
"""

from typing import Dict, List, Optional

import timm
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

__all__ = ["TimmSwinBackbone", "build_timm_swin_backbone"]

_NAMES = ["res2", "res3", "res4", "res5"]


class TimmSwinBackbone(Backbone):
    """The four stages of a timm Swin model, as NCHW features named res2..res5.

    Args:
        model_name: timm model name, e.g. ``swin_large_patch4_window12_384``.
        pretrained: load timm's ImageNet weights.
        out_features: subset of res2..res5 to return.
        drop_path_rate: stochastic depth rate.
        model_kwargs: extra arguments of ``timm.create_model`` (e.g. smaller sizes in tests).
    """

    def __init__(
        self,
        *,
        model_name: str,
        pretrained: bool = False,
        out_features: List[str] = tuple(_NAMES),
        drop_path_rate: float = 0.3,
        model_kwargs: Optional[dict] = None,
    ):
        super().__init__()
        unknown = [f for f in out_features if f not in _NAMES]
        if unknown:
            raise ValueError(f"Swin out_features must be among {_NAMES}, got {unknown}")
        self.body = timm.create_model(
            model_name,
            pretrained=pretrained,
            features_only=True,
            out_indices=(0, 1, 2, 3),
            dynamic_img_size=True,  # any input that is a multiple of 32
            drop_path_rate=drop_path_rate,
            **(model_kwargs or {}),
        )
        channels = self.body.feature_info.channels()
        strides = self.body.feature_info.reduction()
        self._out_features = list(out_features)
        self._out_feature_channels = dict(zip(_NAMES, channels))
        self._out_feature_strides = dict(zip(_NAMES, strides))
        # one LayerNorm per output, as Mask2Former's Swin does
        self.norms = nn.ModuleDict({k: nn.LayerNorm(self._out_feature_channels[k]) for k in _NAMES})

    @property
    def size_divisibility(self) -> int:
        return 32

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x: [B, 3, H, W] with H, W multiples of 32. Returns {name: [B, C, H/s, W/s]}."""
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(
                f"Swin input {tuple(x.shape[-2:])} must be a multiple of 32: pad it "
                "(MODEL.BOX2MASK_T.SIZE_DIVISIBILITY 32)"
            )
        outs = {}
        for name, feat in zip(_NAMES, self.body(x)):  # NHWC
            if name in self._out_features:
                outs[name] = self.norms[name](feat).permute(0, 3, 1, 2).contiguous()
        return outs

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {
            k: ShapeSpec(
                channels=self._out_feature_channels[k], stride=self._out_feature_strides[k]
            )
            for k in self._out_features
        }


@BACKBONE_REGISTRY.register()
def build_timm_swin_backbone(cfg, input_shape: ShapeSpec) -> Backbone:
    """detectron2 builder: ``MODEL.BACKBONE.NAME: build_timm_swin_backbone``."""
    s = cfg.MODEL.BOX2MASK_T.SWIN
    return TimmSwinBackbone(
        model_name=s.NAME,
        pretrained=s.PRETRAINED,
        out_features=list(s.OUT_FEATURES),
        drop_path_rate=s.DROP_PATH_RATE,
    )
