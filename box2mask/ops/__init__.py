"""Compiled ops of Box2Mask, each with a pure-PyTorch reference beside it."""
from ._extension import cuda_built, load_extension
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
