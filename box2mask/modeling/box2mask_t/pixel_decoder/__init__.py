"""Pixel decoder of Box2Mask-T (multi-scale deformable attention encoder)."""

from .ms_deform_attn import MSDeformAttn
from .msdeformattn import MSDeformAttnEncoder, MSDeformAttnPixelDecoder
from .position_encoding import PositionEmbeddingSine
