"""Meta-architectures of Box2Mask (registered in detectron2's META_ARCH_REGISTRY)."""
from .box2mask_c import Box2MaskC
from .box2mask_t import Box2MaskT
