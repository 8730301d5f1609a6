"""Tree filter along the minimum spanning tree of a 4-connected pixel grid (docs/method.md §3).

``out_i = Σ_j S(i, j) x_j / Σ_j S(i, j)`` where ``S(i, j)`` is the product of the edge weights
``w = exp(-d² / σ)`` on the tree path between pixels i and j, d² the squared L2 distance of the
guide across the edge. The tree is the minimum spanning tree of the grid with edge cost d².

Shape glossary: B images, G guide channels, H×W grid, V = H·W pixels (vertices), N instances
(each filtered along the tree of its image ``image_index[n]``), C feature channels.

The compiled ops (``torch.ops.box2mask.tree_filter_*``) build the MST (Kruskal) and its BFS
order on the CPU (a CUDA guide is copied to the CPU for that, as the public code did) and run
the two-pass filter and its gradient on the CPU or the GPU. ``tree_filter_reference`` does the
same with scipy's MST and BFS and level-by-level passes in PyTorch: the ground truth of the
tests and the baseline of ``benchmarks/bench_tree_filter.py``.
"""
import math
from typing import NamedTuple, Optional, Tuple

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch
from torch.autograd.function import once_differentiable

from ._extension import autocast_disabled, check_values, compute_dtype, fake_kernel, ops

__all__ = [
    "Tree",
    "build_tree",
    "tree_edge_weights",
    "tree_filter_with_weights",
    "tree_filter",
    "build_tree_reference",
    "tree_filter_with_weights_reference",
    "tree_filter_reference",
]

MAX_CHILDREN = 4  # a 4-connected grid tree: the root has at most 4 children, the others 3


class Tree(NamedTuple):
    """Spanning trees of B images in BFS order (root: pixel 0, the top-left corner).

    Position k in [0, V) of the BFS order holds one pixel; parents come before children and
    every depth level is a contiguous range of positions. All fields are int32 tensors on the
    device of the features they filter.

    Attributes:
        order: [B, V] raster index (y·W + x) of the pixel at BFS position k.
        parent: [B, V] BFS position of the parent of position k (the root's is 0).
        children: [B, V, 4] BFS positions of the children of position k, padded with -1.
        levels: [B, V + 1] first BFS position of depth d, for d = 0, 1, ...; V past the deepest.
    """

    order: torch.Tensor
    parent: torch.Tensor
    children: torch.Tensor
    levels: torch.Tensor

    def to(self, device) -> "Tree":
        """The same tree with every tensor on ``device``."""
        if self.order.device == torch.device(device):
            return self
        return Tree(*(t.to(device) for t in self))

    @property
    def num_vertices(self) -> int:
        return self.order.shape[1]


# ---------------------------------------------------------------------------------------------
# Fake kernels of the compiled ops
# ---------------------------------------------------------------------------------------------


@fake_kernel("tree_filter_mst")
def _mst_fake(guide):
    batch, _, height, width = guide.shape
    return guide.new_empty((batch, height * width - 1, 2), dtype=torch.int32)


@fake_kernel("tree_filter_bfs")
def _bfs_fake(edges, num_vertices):
    batch = edges.shape[0]
    return (
        edges.new_empty((batch, num_vertices)),
        edges.new_empty((batch, num_vertices)),
        edges.new_empty((batch, num_vertices, MAX_CHILDREN)),
        edges.new_empty((batch, num_vertices + 1)),
    )


@fake_kernel("tree_filter_forward")
def _forward_fake(x, weight, order, parent, children, levels, image_index, save_passes):
    num_instances, channels, num_vertices = x.shape
    return (
        x.new_empty(x.shape),
        weight.new_empty(weight.shape),
        x.new_empty((num_instances if save_passes else 0, channels, 2, num_vertices)),
    )


@fake_kernel("tree_filter_backward")
def _backward_fake(
    grad_out, norm, passes, weight, order, parent, children, levels, image_index, weight_grad
):
    return grad_out.new_empty(grad_out.shape), weight.new_empty(weight.shape)


# ---------------------------------------------------------------------------------------------
# Checks shared by the op and the reference
# ---------------------------------------------------------------------------------------------


def _check_guide(guide: torch.Tensor, name: str = "guide") -> None:
    if not isinstance(guide, torch.Tensor) or guide.dim() != 4:
        shape = tuple(guide.shape) if isinstance(guide, torch.Tensor) else type(guide)
        raise ValueError(f"tree_filter: {name} must be a [B, G, H, W] tensor, got {shape}")
    if not guide.is_floating_point():
        raise TypeError(f"tree_filter: {name} must be a floating tensor, got {guide.dtype}")
    if min(guide.shape[1:]) < 1:
        raise ValueError(f"tree_filter: {name} needs G, H, W >= 1, got {tuple(guide.shape)}")
    if check_values(guide) and not bool(torch.isfinite(guide).all()):
        raise ValueError(f"tree_filter: {name} has NaN or inf values; the MST needs finite costs")


def _check_tree(tree, batch: int, num_vertices: int) -> None:
    if not isinstance(tree, Tree):
        raise TypeError(f"tree_filter: tree must be a Tree (as returned), got {type(tree)}")
    if tuple(tree.order.shape) != (batch, num_vertices):
        raise ValueError(
            f"tree_filter: the tree is for {tuple(tree.order.shape)} = [B, V] but the guide has "
            f"B = {batch}, V = {num_vertices}; build one tree per image and resolution"
        )


def _check_filter_args(x, guide, sigma, image_index) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)
        raise ValueError(f"tree_filter: x must be a [N, C, H, W] tensor, got {shape}")
    if not x.is_floating_point():
        raise TypeError(f"tree_filter: x must be a floating tensor, got {x.dtype}")
    _check_guide(guide)
    if x.shape[-2:] != guide.shape[-2:]:
        raise ValueError(
            f"tree_filter: x {tuple(x.shape)} and guide {tuple(guide.shape)} must share H, W"
        )
    if x.device != guide.device:
        raise ValueError(f"tree_filter: x is on {x.device} but guide is on {guide.device}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"tree_filter: sigma must be a positive finite number, got {sigma}")
    _check_image_index(image_index, x.shape[0], guide.shape[0], x.device)


def _check_weight_args(x, weight, tree, image_index) -> None:
    for name, t, dims in (("x", x, (3, 4)), ("weight", weight, (2,))):
        if not isinstance(t, torch.Tensor) or t.dim() not in dims:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t)
            expected = "[N, C, H, W] or [N, C, V]" if name == "x" else "[B, V]"
            raise ValueError(f"tree_filter: {name} must be a {expected} tensor, got {shape}")
        if not t.is_floating_point():
            raise TypeError(f"tree_filter: {name} must be a floating tensor, got {t.dtype}")
    batch, num_vertices = weight.shape
    if math.prod(x.shape[2:]) != num_vertices:
        raise ValueError(
            f"tree_filter: x {tuple(x.shape)} does not have the V = {num_vertices} pixels of "
            f"weight {tuple(weight.shape)}"
        )
    if weight.device != x.device:
        raise ValueError(f"tree_filter: x is on {x.device} but weight is on {weight.device}")
    _check_tree(tree, batch, num_vertices)
    _check_image_index(image_index, x.shape[0], batch, x.device)


def _check_image_index(image_index, num_instances: int, batch: int, device) -> None:
    if not isinstance(image_index, torch.Tensor) or image_index.dim() != 1:
        raise ValueError("tree_filter: image_index must be a 1-d integer tensor [N]")
    if image_index.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"tree_filter: image_index must be integer, got {image_index.dtype}")
    if image_index.shape[0] != num_instances:
        raise ValueError(
            f"tree_filter: image_index has {image_index.shape[0]} entries for "
            f"{num_instances} instances"
        )
    if image_index.device != device:
        raise ValueError(f"tree_filter: image_index is on {image_index.device}, x on {device}")
    if not (num_instances and check_values(image_index)):
        return
    if int(image_index.min()) < 0 or int(image_index.max()) >= batch:
        raise ValueError(f"tree_filter: image_index values must lie in [0, {batch})")


# ---------------------------------------------------------------------------------------------
# Compiled op
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def build_tree(guide: torch.Tensor) -> Tree:
    """Minimum spanning tree of the 4-connected grid of each guide image, in BFS order.

    Kruskal's algorithm on the CPU (parallel over the batch), edge cost = squared L2 distance of
    the guide across the edge (summed over channels, ranked as float32), ties broken by edge
    index (vertical edges in raster order, then horizontal ones), so the tree is deterministic.
    No gradient. Cost: about 0.6 ms for a 96×96 grid on one core.

    Args:
        guide: [B, G, H, W] floating tensor, finite, any device (copied to the CPU here).

    Returns:
        The trees as a :class:`Tree` on ``guide.device``.
    """
    _check_guide(guide)
    return _build_tree(guide)


def _build_tree(guide: torch.Tensor) -> Tree:
    height, width = guide.shape[-2:]
    guide_cpu = guide.detach().to("cpu", compute_dtype(guide)).contiguous()
    edges = ops().tree_filter_mst(guide_cpu)
    tree = Tree(*ops().tree_filter_bfs(edges, height * width))
    return tree.to(guide.device) if guide.device.type != "cpu" else tree


def tree_edge_weights(guide: torch.Tensor, tree: Tree, sigma: float) -> torch.Tensor:
    """Filter weights ``exp(-d² / σ)`` of the edges (k, parent(k)), in BFS order.

    d² is the squared L2 guide distance summed over the G channels (the public code's
    ``norm2_distance``). Differentiable with respect to the guide.

    Args:
        guide: [B, G, H, W] floating tensor.
        tree: the trees of the B images (:func:`build_tree`).
        sigma: σ > 0, in squared guide units.

    Returns:
        [B, V] weights in (0, 1]; entry k is the weight of the edge from BFS position k to its
        parent (entry 0, the root, is 1 and unused).
    """
    batch, channels = guide.shape[:2]
    num_vertices = tree.num_vertices
    flat = guide.reshape(batch, channels, num_vertices)
    order = tree.order.long().unsqueeze(1).expand(batch, channels, num_vertices)
    parent = tree.parent.long().unsqueeze(1).expand(batch, channels, num_vertices)
    in_bfs = torch.gather(flat, 2, order)  # [B, G, V] guide at BFS position k
    at_parent = torch.gather(in_bfs, 2, parent)  # [B, G, V] guide at the parent of k
    dist2 = (in_bfs - at_parent).pow(2).sum(1)  # [B, V]
    return torch.exp(-dist2 / sigma)


class _TreeFilterFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, order, parent, children, levels, image_index):
        # The weight gradient reuses the forward's passes U, A of x (BFS order).
        out, norm, passes = ops().tree_filter_forward(
            x, weight, order, parent, children, levels, image_index, ctx.needs_input_grad[1]
        )
        ctx.save_for_backward(norm, passes, weight, order, parent, children, levels, image_index)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        norm, passes, weight, order, parent, children, levels, image_index = ctx.saved_tensors
        grad_x, grad_weight = ops().tree_filter_backward(
            grad_out.contiguous(),
            norm,
            passes,
            weight,
            order,
            parent,
            children,
            levels,
            image_index,
            ctx.needs_input_grad[1],
        )
        return (
            grad_x if ctx.needs_input_grad[0] else None,
            grad_weight if ctx.needs_input_grad[1] else None,
            None,
            None,
            None,
            None,
            None,
        )


def tree_filter_with_weights(
    x: torch.Tensor, weight: torch.Tensor, tree: Tree, image_index: torch.Tensor
) -> torch.Tensor:
    """The filter along given trees with given edge weights (the compiled two-pass kernel).

    Args:
        x: [N, C, H, W] (or [N, C, V]) floating features.
        weight: [B, V] floating edge weights in BFS order (:func:`tree_edge_weights`).
        tree: the B trees, on x's device.
        image_index: [N] integer, the tree (image) of each instance, in [0, B).

    Returns:
        [N, C, H, W] (the shape of x) filtered features in float32 (float64 if x or weight is
        float64; autocast disabled); differentiable in x and weight (when weight requires
        grad, the forward keeps its two passes, 2·N·C·V values, for backward).
    """
    _check_weight_args(x, weight, tree, image_index)
    shape = x.shape
    dtype = compute_dtype(x, weight)
    with autocast_disabled(x.device):
        out = _TreeFilterFunction.apply(
            x.reshape(shape[0], shape[1], weight.shape[1]).to(dtype).contiguous(),
            weight.to(dtype).contiguous(),
            tree.order,
            tree.parent,
            tree.children,
            tree.levels,
            image_index.long(),
        )
    return out.reshape(shape)


def tree_filter(
    x: torch.Tensor,
    guide: torch.Tensor,
    sigma: float,
    image_index: torch.Tensor,
    learn_guide: bool = False,
    tree: Optional[Tree] = None,
) -> Tuple[torch.Tensor, Tree]:
    """Structure-aware filter of each instance's features along the MST of its image's guide.

    One tree per image, shared by all its instances; pass the returned tree back to filter
    other features of the same images at the same resolution without rebuilding it.
    Inputs are filtered in float32 (float64 if x or guide is float64), autocast disabled.

    Args:
        x: [N, C, H, W] features of N instances (e.g. mask probabilities, C = 1).
        guide: [B, G, H, W] guide of B images (image or deep features), finite.
        sigma: σ of the edge weight ``exp(-d²/σ)``, d² the squared guide distance summed over
            channels (0.02 for the normalised image, 1 for deep features).
        image_index: [N] integer, the image in [0, B) of each instance.
        learn_guide: if True, the gradient flows to the guide through the edge weights;
            otherwise the guide is treated as a constant. x always gets its gradient.
        tree: the tree of these B images at this H×W (from an earlier call or
            :func:`build_tree`); built from ``guide`` if None.

    Returns:
        ``(out, tree)``: out [N, C, H, W] in the compute dtype, and the :class:`Tree` used.
    """
    return _filter_along_tree(
        x, guide, sigma, image_index, learn_guide, tree, _build_tree, tree_filter_with_weights
    )


def _filter_along_tree(x, guide, sigma, image_index, learn_guide, tree, build, filter_fn):
    """Shared body of ``tree_filter`` and its reference: check, build or reuse the tree (no
    gradient), edge weights exp(-d²/σ) in fp32/fp64 outside autocast, then ``filter_fn``."""
    _check_filter_args(x, guide, sigma, image_index)
    batch, _, height, width = guide.shape
    if tree is None:
        with torch.no_grad():
            tree = build(guide)  # guide already checked
    _check_tree(tree, batch, height * width)
    tree = tree.to(x.device)
    dtype = compute_dtype(x, guide)
    with autocast_disabled(x.device):
        guide = guide.to(dtype) if learn_guide else guide.detach().to(dtype)
        weight = tree_edge_weights(guide, tree, sigma)
        out = filter_fn(x.to(dtype), weight, tree, image_index)
    return out, tree


# ---------------------------------------------------------------------------------------------
# Pure-PyTorch reference (scipy MST and BFS, level-by-level passes)
# ---------------------------------------------------------------------------------------------


def _grid_edges(height: int, width: int) -> np.ndarray:
    """[E, 2] raster index pairs of the grid edges, in the compiled op's order."""
    idx = np.arange(height * width).reshape(height, width)
    vertical = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], 1)
    horizontal = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1)
    return np.concatenate([vertical, horizontal], 0)


def _tree_from_bfs(order: np.ndarray, pred_vertex: np.ndarray) -> Tuple[np.ndarray, ...]:
    """(order, parent, children, levels) arrays of one tree from a BFS order and predecessors."""
    num_vertices = order.shape[0]
    position = np.empty(num_vertices, np.int64)
    position[order] = np.arange(num_vertices)
    parent = np.zeros(num_vertices, np.int64)
    parent[1:] = position[pred_vertex[order[1:]]]
    # Children: positions k > 0 grouped by parent; BFS puts siblings next to each other.
    children = np.full((num_vertices, MAX_CHILDREN), -1, np.int64)
    if num_vertices > 1:
        kids = np.arange(1, num_vertices)
        by_parent = kids[np.argsort(parent[1:], kind="stable")]
        parents = parent[by_parent]
        first = np.searchsorted(parents, parents, side="left")
        slot = np.arange(by_parent.shape[0]) - first
        if slot.max() >= MAX_CHILDREN:
            raise ValueError("tree_filter: a vertex has more than 4 children")
        children[parents, slot] = by_parent
    # Depth by pointer jumping: depth(k) = sum of 1 per edge on the path to the root.
    depth = (np.arange(num_vertices) > 0).astype(np.int64)
    ancestor = parent.copy()
    while np.any(ancestor > 0):
        depth = depth + depth[ancestor] * (ancestor > 0)
        ancestor = ancestor[ancestor]
    levels = np.full(num_vertices + 1, num_vertices, np.int64)
    starts = np.flatnonzero(np.diff(depth, prepend=-1))
    levels[: starts.shape[0]] = starts
    return order, parent, children, levels


@torch.no_grad()
def build_tree_reference(guide: torch.Tensor) -> Tree:
    """:func:`build_tree` with ``scipy.sparse.csgraph`` (minimum_spanning_tree and
    breadth_first_order from pixel 0). Same costs (float32); ties may be broken differently.

    Args:
        guide: [B, G, H, W] floating tensor, finite.

    Returns:
        The trees as a :class:`Tree` on ``guide.device``.
    """
    _check_guide(guide)
    batch, _, height, width = guide.shape
    num_vertices = height * width
    g = guide.detach().to("cpu", compute_dtype(guide)).float()
    edges = _grid_edges(height, width)
    vertical = (g[:, :, 1:, :] - g[:, :, :-1, :]).pow(2).sum(1).reshape(batch, -1)
    horizontal = (g[:, :, :, 1:] - g[:, :, :, :-1]).pow(2).sum(1).reshape(batch, -1)
    costs = torch.cat([vertical, horizontal], 1).double().numpy()
    fields = []
    for b in range(batch):
        # scipy drops zero entries of a sparse graph: shift every cost by 1 (order unchanged).
        graph = scipy.sparse.coo_matrix(
            (costs[b] + 1.0, (edges[:, 0], edges[:, 1])), shape=(num_vertices, num_vertices)
        )
        mst = scipy.sparse.csgraph.minimum_spanning_tree(graph.tocsr())
        order, pred = scipy.sparse.csgraph.breadth_first_order(
            mst, 0, directed=False, return_predecessors=True
        )
        fields.append(_tree_from_bfs(order, pred))
    tree = Tree(*(torch.from_numpy(np.stack(f)).int() for f in zip(*fields)))
    return tree.to(guide.device)


def _levels_of(tree: Tree, b: int):
    levels = tree.levels[b].tolist()
    num_vertices = tree.num_vertices
    return [(s, e) for s, e in zip(levels[:-1], levels[1:]) if s < num_vertices]


def _reference_passes(
    xb: torch.Tensor, w: torch.Tensor, parent: torch.Tensor, spans
) -> torch.Tensor:
    """Two passes over BFS-ordered xb [n, C, V], level by level; returns A [n, C, V]."""
    ups = [None] * len(spans)
    for d in range(len(spans) - 1, -1, -1):
        start, end = spans[d]
        up = xb[..., start:end]
        if d + 1 < len(spans):
            cs, ce = spans[d + 1]
            contrib = w[cs:ce] * ups[d + 1]
            up = up.index_add(-1, parent[cs:ce] - start, contrib)
        ups[d] = up
    downs = [ups[0]]
    for d in range(1, len(spans)):
        start, end = spans[d]
        ps = spans[d - 1][0]
        wd = w[start:end]
        downs.append(wd * downs[d - 1][..., parent[start:end] - ps] + (1 - wd * wd) * ups[d])
    return torch.cat(downs, -1)


def tree_filter_with_weights_reference(
    x: torch.Tensor, weight: torch.Tensor, tree: Tree, image_index: torch.Tensor
) -> torch.Tensor:
    """:func:`tree_filter_with_weights` in plain PyTorch, vectorised per tree depth level.

    Args and Returns: as :func:`tree_filter_with_weights`.
    """
    shape = x.shape
    flat = x.reshape(shape[0], shape[1], weight.shape[1])
    image_index = image_index.long()
    outs, members = [], []
    for b in range(weight.shape[0]):
        sel = torch.nonzero(image_index == b).flatten()
        if sel.numel() == 0:
            continue
        order = tree.order[b].long()
        parent = tree.parent[b].long()
        spans = _levels_of(tree, b)
        w = weight[b]
        num = _reference_passes(flat[sel][..., order], w, parent, spans)
        den = _reference_passes(torch.ones_like(w)[None, None], w, parent, spans)
        out_bfs = num / den
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.shape[0], device=order.device)
        outs.append(out_bfs[..., inverse])
        members.append(sel)
    if not outs:
        return flat.new_zeros(flat.shape).reshape(shape) + flat.sum() * 0
    out = torch.cat(outs, 0)[torch.argsort(torch.cat(members))]
    return out.reshape(shape)


def tree_filter_reference(
    x: torch.Tensor,
    guide: torch.Tensor,
    sigma: float,
    image_index: torch.Tensor,
    learn_guide: bool = False,
    tree: Optional[Tree] = None,
) -> Tuple[torch.Tensor, Tree]:
    """:func:`tree_filter` in pure PyTorch + scipy: the ground truth of the tests.

    Args and Returns: as :func:`tree_filter` (the tree from :func:`build_tree_reference`).
    """
    return _filter_along_tree(
        x,
        guide,
        sigma,
        image_index,
        learn_guide,
        tree,
        build_tree_reference,
        tree_filter_with_weights_reference,
    )
