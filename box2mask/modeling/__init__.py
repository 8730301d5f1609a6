"""Models of Box2Mask (importing registers the meta-architectures)."""

from . import backbone as _backbone  # registration
from . import meta_arch as _meta_arch  # registration
from .criterion import Box2MaskTCriterion
from .matcher import BoxHungarianMatcher, MaskHungarianMatcher
