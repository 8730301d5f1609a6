"""Backbones (importing registers them with detectron2's BACKBONE_REGISTRY)."""

from .swin import TimmSwinBackbone, build_timm_swin_backbone
