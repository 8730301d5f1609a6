"""Box2Mask-C: the CNN (SOLOv2-style) model; importing registers ``Box2MaskC``."""
from .criterion import Box2MaskCCriterion
from .kernel_category_head import KernelCategoryHead
from .mask_feature_head import MaskFeatureHead
from .meta_arch import Box2MaskC
from .postprocess import Box2MaskCPostProcessor
