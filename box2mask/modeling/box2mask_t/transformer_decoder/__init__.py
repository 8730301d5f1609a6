"""Masked-attention transformer decoder of Box2Mask-T."""

from .masked_attention_decoder import MultiScaleMaskedTransformerDecoder
