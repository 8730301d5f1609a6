"""Box2Mask-T: the transformer (Mask2Former-style) model; importing registers ``Box2MaskT``."""
from .criterion import Box2MaskTCriterion
from .matcher import BoxHungarianMatcher, MaskHungarianMatcher
from .meta_arch import Box2MaskT
