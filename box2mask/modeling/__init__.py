"""Box2Mask models; importing this registers the meta-architectures and backbones."""

from . import backbone as _backbone  # registration
from . import meta_arch as _meta_arch  # registration
from .meta_arch import Box2MaskC
