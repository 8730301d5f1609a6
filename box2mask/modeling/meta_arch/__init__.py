from .box2mask_t import Box2MaskT
