"""Compiled ops of Box2Mask, each with a pure-PyTorch reference beside it."""
from ._extension import cuda_built, load_extension
from .levelset import region_levelset_energy, region_levelset_energy_reference
from .evolution import evolve_levelset
from .ms_deform_attn import ms_deform_attn, ms_deform_attn_reference
