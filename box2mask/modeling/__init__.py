"""Box2Mask models; importing this registers the meta-architectures and backbones."""
from . import backbone as _backbone  # registration
from .box2mask_c import Box2MaskC, Box2MaskCCriterion
from .box2mask_t import Box2MaskT, Box2MaskTCriterion, BoxHungarianMatcher, MaskHungarianMatcher
from .guide_head import FeatureGuideHead
