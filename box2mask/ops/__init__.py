"""Compiled ops of Box2Mask, each with a pure-PyTorch reference beside it."""
from ._extension import cuda_built, load_extension
from .evolution import evolve_levelset
from .levelset import region_levelset_energy, region_levelset_energy_reference
from .ms_deform_attn import ms_deform_attn, ms_deform_attn_reference
from .tree_filter import (
    Tree,
    build_tree,
    build_tree_reference,
    tree_edge_weights,
    tree_filter,
    tree_filter_reference,
    tree_filter_with_weights,
    tree_filter_with_weights_reference,
)
