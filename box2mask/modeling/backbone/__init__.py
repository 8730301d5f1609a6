"""Backbones of Box2Mask, registered in detectron2's BACKBONE_REGISTRY (ResNet-FPN comes from
detectron2 as is)."""
from .efficientnet_lite import (
    EfficientNetLite0,
    build_efficientnet_lite0_backbone,
    build_efficientnet_lite0_fpn_backbone,
    efficientnet_lite0_imagenet_state_dict,
)
from .swin import TimmSwinBackbone, build_timm_swin_backbone
