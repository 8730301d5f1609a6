"""Tree filter ops (box2mask.ops.tree_filter): MST, BFS order, two-pass filter and gradients."""
import numpy as np
import pytest
import torch

from box2mask.ops import cuda_built, load_extension
from box2mask.ops.tree_filter import (
    Tree,
    build_tree,
    build_tree_reference,
    tree_edge_weights,
    tree_filter,
    tree_filter_reference,
    tree_filter_with_weights,
    tree_filter_with_weights_reference,
)


@pytest.fixture(autouse=True)
def _extension():
    load_extension()  # registers torch.ops.box2mask.* (some tests call the ops directly)


def random_tree_edges(num_vertices: int, gen: torch.Generator) -> torch.Tensor:
    """[V-1, 2] edges of a random tree with degrees <= 4 (root 0 included), shuffled."""
    degree = [0] * num_vertices
    edges = []
    perm = torch.randperm(num_vertices, generator=gen).tolist()
    for i in range(1, num_vertices):
        candidates = [perm[j] for j in range(i) if degree[perm[j]] < 4]
        a = candidates[int(torch.randint(len(candidates), (1,), generator=gen))]
        b = perm[i]
        degree[a] += 1
        degree[b] += 1
        edges.append((a, b) if torch.rand(1, generator=gen) < 0.5 else (b, a))
    order = torch.randperm(len(edges), generator=gen).tolist()
    return torch.tensor([edges[i] for i in order], dtype=torch.int32).reshape(-1, 2)


def brute_force_filter(x, edge_list, edge_weight):
    """out_i = sum_j S(i,j) x_j / sum_j S(i,j) with S the product of weights on the path.

    x: [C, V] float64; edge_list: [(a, b)]; edge_weight: {(a, b): w} for both directions.
    """
    num_vertices = x.shape[1]
    adj = {v: [] for v in range(num_vertices)}
    for a, b in edge_list:
        adj[a].append(b)
        adj[b].append(a)
    s = torch.zeros(num_vertices, num_vertices, dtype=torch.float64)
    for i in range(num_vertices):  # depth-first walk from i, multiplying weights on the way
        stack = [(i, -1, 1.0)]
        while stack:
            v, came_from, prod = stack.pop()
            s[i, v] = prod
            for u in adj[v]:
                if u != came_from:
                    stack.append((u, v, prod * edge_weight[(v, u)]))
    return (s @ x.T).T / s.sum(1)


@pytest.mark.parametrize("num_vertices", [1, 2, 5, 17, 40])
def test_filter_matches_brute_force_path_products(num_vertices):
    gen = torch.Generator().manual_seed(num_vertices)
    batch, channels = 2, 3
    image_index = torch.tensor([1, 0, 1])
    edges = torch.stack([random_tree_edges(num_vertices, gen) for _ in range(batch)])
    tree = Tree(*torch.ops.box2mask.tree_filter_bfs(edges, num_vertices))
    weight = torch.rand(batch, num_vertices, generator=gen, dtype=torch.float64)
    x = torch.randn(3, channels, 1, num_vertices, generator=gen, dtype=torch.float64)
    out = tree_filter_with_weights(x, weight, tree, image_index)
    ref = tree_filter_with_weights_reference(x, weight, tree, image_index)
    for n, b in enumerate(image_index.tolist()):
        order, parent = tree.order[b].long(), tree.parent[b].long()
        edge_weight = {}
        for k in range(1, num_vertices):
            u, v = int(order[k]), int(order[parent[k]])
            edge_weight[(u, v)] = edge_weight[(v, u)] = float(weight[b, k])
        expected = brute_force_filter(x[n, :, 0], edges[b].tolist(), edge_weight)
        torch.testing.assert_close(out[n, :, 0], expected, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ref[n, :, 0], expected, rtol=1e-10, atol=1e-12)


def test_bfs_order_invariants():
    gen = torch.Generator().manual_seed(3)
    num_vertices = 60
    edges = random_tree_edges(num_vertices, gen)[None]
    order, parent, children, levels = torch.ops.box2mask.tree_filter_bfs(edges, num_vertices)
    order, parent, children, levels = order[0], parent[0], children[0], levels[0]
    assert order[0] == 0 and sorted(order.tolist()) == list(range(num_vertices))
    assert bool((parent[1:] < torch.arange(1, num_vertices)).all())
    for k in range(num_vertices):  # children lists are exactly the inverse of parent
        kids = [c for c in children[k].tolist() if c >= 0]
        assert kids == [c for c in range(1, num_vertices) if parent[c] == k]
    depth = [0] * num_vertices
    for k in range(1, num_vertices):
        depth[k] = depth[parent[k]] + 1
    starts = [k for k in range(num_vertices) if k == 0 or depth[k] != depth[k - 1]]
    assert levels[: len(starts)].tolist() == starts
    assert bool((levels[len(starts) :] == num_vertices).all())


def mst_cost(tree: Tree, guide: torch.Tensor) -> torch.Tensor:
    """[B] total squared-distance cost of the tree edges."""
    weight = tree_edge_weights(guide.double(), tree, 1.0)
    return (-torch.log(weight)).sum(1)


@pytest.mark.parametrize("shape", [(1, 1), (1, 13), (11, 1), (6, 9), (17, 12)])
def test_op_matches_reference_on_random_grids(shape):
    gen = torch.Generator().manual_seed(shape[0] * 100 + shape[1])
    height, width = shape
    guide = torch.rand(2, 3, height, width, generator=gen)
    x = torch.rand(4, 2, height, width, generator=gen)
    image_index = torch.tensor([0, 1, 1, 0])
    tree = build_tree(guide)
    tree_ref = build_tree_reference(guide)
    # Same MST (up to ties, which random costs do not have): same total cost, same edges.
    torch.testing.assert_close(mst_cost(tree, guide), mst_cost(tree_ref, guide))
    for b in range(2):
        edges = {
            frozenset((int(tree.order[b, k]), int(tree.order[b, tree.parent[b, k]])))
            for k in range(1, height * width)
        }
        edges_ref = {
            frozenset((int(tree_ref.order[b, k]), int(tree_ref.order[b, tree_ref.parent[b, k]])))
            for k in range(1, height * width)
        }
        assert edges == edges_ref
    out, returned = tree_filter(x, guide, 0.05, image_index)
    ref, _ = tree_filter_reference(x, guide, 0.05, image_index)
    assert all(torch.equal(a, b) for a, b in zip(returned, tree))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    assert out.shape == x.shape and out.dtype == torch.float32


def test_gradients_match_reference():
    gen = torch.Generator().manual_seed(7)
    guide = torch.randn(2, 4, 9, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.rand(3, 2, 9, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    image_index = torch.tensor([1, 1, 0])
    grad_out = torch.randn(3, 2, 9, 8, generator=gen, dtype=torch.float64)
    tree = build_tree(guide)
    grads = []
    for fn in (tree_filter, tree_filter_reference):
        out, _ = fn(x, guide, 2.0, image_index, learn_guide=True, tree=tree)
        grads.append(torch.autograd.grad(out, (x, guide), grad_out))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])
    assert grads[0][1].abs().sum() > 0


def test_gradcheck_x_and_guide():
    gen = torch.Generator().manual_seed(11)
    guide = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.rand(3, 2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    image_index = torch.tensor([0, 1, 0])
    tree = build_tree(guide)  # fixed: the MST is piecewise constant in the guide

    def fn(x_, guide_):
        return tree_filter(x_, guide_, 1.5, image_index, learn_guide=True, tree=tree)[0]

    assert torch.autograd.gradcheck(fn, (x, guide), eps=1e-6, atol=1e-7)

    def fn_x(x_):
        return tree_filter(x_, guide, 1.5, image_index, tree=tree)[0]

    assert torch.autograd.gradcheck(fn_x, (x,), eps=1e-6, atol=1e-7)


def test_no_gradient_to_guide_unless_learned():
    guide = torch.randn(1, 3, 5, 5, requires_grad=True)
    x = torch.rand(2, 1, 5, 5, requires_grad=True)
    out, _ = tree_filter(x, guide, 0.02, torch.zeros(2, dtype=torch.long))
    out.sum().backward()
    assert guide.grad is None and x.grad is not None


def test_constant_guide_gives_the_mean():
    guide = torch.full((2, 3, 6, 7), 0.3)  # every edge ties: any spanning tree, all weights 1
    x = torch.rand(3, 2, 6, 7)
    image_index = torch.tensor([0, 1, 1])
    out, tree = tree_filter(x, guide, 0.02, image_index)
    torch.testing.assert_close(out, x.mean((2, 3), keepdim=True).expand_as(x))
    assert all(sorted(t.tolist()) == list(range(42)) for t in tree.order)
    again = build_tree(guide)  # ties are broken deterministically
    assert all(torch.equal(a, b) for a, b in zip(tree, again))


def test_zero_instances():
    guide = torch.randn(2, 3, 5, 4, requires_grad=True)
    x = torch.zeros(0, 1, 5, 4, requires_grad=True)
    out, tree = tree_filter(x, guide, 1.0, torch.zeros(0, dtype=torch.long), learn_guide=True)
    assert out.shape == (0, 1, 5, 4) and tree.order.shape == (2, 20)
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert guide.grad is None or not guide.grad.any()
    ref, _ = tree_filter_reference(x, guide, 1.0, torch.zeros(0, dtype=torch.long))
    assert ref.shape == (0, 1, 5, 4)


def test_instances_share_their_image_tree():
    gen = torch.Generator().manual_seed(5)
    guide = torch.rand(3, 3, 8, 8, generator=gen)
    x = torch.rand(5, 1, 8, 8, generator=gen)
    image_index = torch.tensor([2, 0, 2, 2, 1])
    out, tree = tree_filter(x, guide, 0.1, image_index)
    for n, b in enumerate(image_index.tolist()):
        one = torch.zeros(1, dtype=torch.long)
        alone, _ = tree_filter(x[n : n + 1], guide[b : b + 1], 0.1, one)
        torch.testing.assert_close(out[n], alone[0])
    reused, _ = tree_filter(x, guide, 0.1, image_index, tree=tree)
    assert torch.equal(out, reused)


def test_half_precision_is_filtered_in_float32():
    guide = torch.rand(1, 3, 6, 6)
    x = torch.rand(2, 1, 6, 6)
    out, _ = tree_filter(x.half(), guide.half(), 0.1, torch.zeros(2, dtype=torch.long))
    assert out.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_ac, _ = tree_filter(x, guide, 0.1, torch.zeros(2, dtype=torch.long))
    assert out_ac.dtype == torch.float32


def test_non_contiguous_inputs():
    gen = torch.Generator().manual_seed(9)
    guide = torch.rand(1, 6, 7, 3, generator=gen).permute(0, 3, 1, 2)  # [1, 3, 6, 7] strided
    x = torch.rand(2, 7, 6, 2, generator=gen).permute(0, 3, 2, 1)  # [2, 2, 6, 7] strided
    idx = torch.zeros(2, dtype=torch.long)
    out, _ = tree_filter(x, guide, 0.1, idx)
    ref, _ = tree_filter(x.contiguous(), guide.contiguous(), 0.1, idx)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_guide_raises(bad):
    guide = torch.rand(1, 3, 4, 4)
    guide[0, 1, 2, 3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        tree_filter(torch.rand(1, 1, 4, 4), guide, 0.1, torch.zeros(1, dtype=torch.long))
    with pytest.raises(RuntimeError, match="NaN or inf"):
        torch.ops.box2mask.tree_filter_mst(guide)


def test_malformed_inputs_raise():
    guide = torch.rand(2, 3, 4, 5)
    x = torch.rand(3, 1, 4, 5)
    idx = torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        tree_filter(x[0], guide, 0.1, idx)
    with pytest.raises(ValueError, match=r"\[B, G, H, W\]"):
        tree_filter(x, guide[0], 0.1, idx)
    with pytest.raises(ValueError, match="share H, W"):
        tree_filter(x, guide[..., :4], 0.1, idx)
    with pytest.raises(ValueError, match="entries"):
        tree_filter(x, guide, 0.1, idx[:2])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        tree_filter(x, guide, 0.1, torch.tensor([0, 2, 1]))
    with pytest.raises(TypeError, match="integer"):
        tree_filter(x, guide, 0.1, idx.float())
    with pytest.raises(ValueError, match="sigma"):
        tree_filter(x, guide, 0.0, idx)
    with pytest.raises(TypeError, match="floating"):
        tree_filter(x.long(), guide, 0.1, idx)
    other_tree = build_tree(torch.rand(2, 3, 5, 5))
    with pytest.raises(ValueError, match="one tree per image"):
        tree_filter(x, guide, 0.1, idx, tree=other_tree)
    with pytest.raises(TypeError, match="Tree"):
        tree_filter(x, guide, 0.1, idx, tree=tuple(build_tree(guide)))


def test_compiled_ops_reject_bad_trees():
    cycle = torch.tensor([[[0, 1], [1, 2], [2, 0]]], dtype=torch.int32)
    with pytest.raises(RuntimeError, match="cycle|connect"):
        torch.ops.box2mask.tree_filter_bfs(cycle, 4)
    star = torch.tensor([[[0, 1], [0, 2], [0, 3], [0, 4], [0, 5]]], dtype=torch.int32)
    with pytest.raises(RuntimeError, match="more than 4"):
        torch.ops.box2mask.tree_filter_bfs(star, 6)
    out_of_range = torch.tensor([[[0, 7]]], dtype=torch.int32)
    with pytest.raises(RuntimeError, match="distinct vertices"):
        torch.ops.box2mask.tree_filter_bfs(out_of_range, 2)
    tree = build_tree(torch.rand(1, 1, 3, 3))
    x = torch.rand(1, 1, 9)
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.ops.box2mask.tree_filter_forward(
            x, torch.rand(1, 9, dtype=torch.float64), *tree, torch.zeros(1).long(), False
        )
    with pytest.raises(RuntimeError, match="image_index"):
        torch.ops.box2mask.tree_filter_forward(
            x, torch.rand(1, 9), *tree, torch.ones(1, dtype=torch.long), False
        )
    out, norm, passes = torch.ops.box2mask.tree_filter_forward(
        x, torch.rand(1, 9), *tree, torch.zeros(1, dtype=torch.long), False
    )
    with pytest.raises(RuntimeError, match="save_passes"):
        torch.ops.box2mask.tree_filter_backward(
            out, norm, passes, torch.rand(1, 9), *tree, torch.zeros(1, dtype=torch.long), True
        )


def test_kernels_registered():
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    for name in ("mst", "bfs", "forward", "backward"):
        assert has_kernel(f"box2mask::tree_filter_{name}", "CPU")
    # The filter has CUDA kernels whenever the build had CUDA (MST and BFS are CPU only).
    for name in ("forward", "backward"):
        assert has_kernel(f"box2mask::tree_filter_{name}", "CUDA") == cuda_built()


def test_reference_tree_arrays_on_a_known_path():
    # A 1 x 4 grid is a path: BFS from 0 visits 0, 1, 2, 3, one per level.
    tree = build_tree_reference(torch.arange(4.0).reshape(1, 1, 1, 4))
    assert tree.order.tolist() == [[0, 1, 2, 3]]
    assert tree.parent.tolist() == [[0, 0, 1, 2]]
    assert tree.levels.tolist() == [[0, 1, 2, 3, 4]]
    np.testing.assert_array_equal(tree.children[0, :, 0].numpy(), [1, 2, 3, -1])


@pytest.mark.parametrize("weight_grad", [False, True])
def test_opcheck(weight_grad):
    """Schema and fake kernels of the four ops, as torch.compile needs them."""
    gen = torch.Generator().manual_seed(13)
    guide = torch.rand(2, 3, 4, 5, generator=gen)
    ops = torch.ops.box2mask
    torch.library.opcheck(ops.tree_filter_mst, (guide,))
    edges = ops.tree_filter_mst(guide)
    torch.library.opcheck(ops.tree_filter_bfs, (edges, 20))
    tree = Tree(*ops.tree_filter_bfs(edges, 20))
    x = torch.rand(3, 2, 20, generator=gen)
    weight = torch.rand(2, 20, generator=gen)
    image_index = torch.tensor([1, 0, 1])
    forward_args = (x, weight, *tree, image_index, weight_grad)
    torch.library.opcheck(ops.tree_filter_forward, forward_args)
    out, norm, passes = ops.tree_filter_forward(*forward_args)
    grad_out = torch.rand(out.shape, generator=gen)
    torch.library.opcheck(
        ops.tree_filter_backward,
        (grad_out, norm, passes, weight, *tree, image_index, weight_grad),
    )
