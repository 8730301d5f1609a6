"""Compiled ops of Box2Mask, each with a pure-PyTorch reference beside it.

Checks that read tensor values run on CPU inputs; on accelerator inputs only with
``set_debug_checks(True)`` or ``BOX2MASK_DEBUG_CHECKS=1`` (they synchronise the device).
"""
from ._extension import cuda_built, debug_checks_enabled, load_extension, set_debug_checks
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
