"""Backbones of Box2Mask (ResNet-FPN comes from detectron2's registry as is)."""

from .efficientnet_lite import (
    EfficientNetLite0,
    build_efficientnet_lite0_backbone,
    build_efficientnet_lite0_fpn_backbone,
    efficientnet_lite0_imagenet_state_dict,
)
