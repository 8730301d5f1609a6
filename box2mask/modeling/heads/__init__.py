"""Heads of Box2Mask-C."""

from .kernel_category_head import KernelCategoryHead
from .mask_feature_head import FeatureGuideHead, MaskFeatureHead
