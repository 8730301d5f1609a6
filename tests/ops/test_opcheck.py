"""What every op front end guarantees (box2mask/ops/_extension.py): a fake kernel for each
registered op, tracing by torch.compile, and no reads of tensor values off the CPU unless the
debug switch is on."""
import pytest
import torch

from box2mask.ops import (
    build_tree,
    debug_checks_enabled,
    load_extension,
    ms_deform_attn,
    region_levelset_energy,
    set_debug_checks,
    tree_edge_weights,
    tree_filter_with_weights,
)


@pytest.fixture
def debug_checks():
    before = debug_checks_enabled()
    set_debug_checks(True)
    yield
    set_debug_checks(before)


def levelset_case(device="cpu"):
    g = torch.Generator().manual_seed(0)
    args = (
        torch.rand(3, 6, 7, generator=g),
        torch.randn(2, 2, 6, 7, generator=g),
        torch.tensor([[0, 0, 4, 5], [1, 1, 7, 6], [2, 0, 3, 3]]),
        torch.tensor([0, 1, 1]),
    )
    return tuple(t.to(device) for t in args)


def ms_deform_attn_case(device="cpu"):
    g = torch.Generator().manual_seed(1)
    args = (
        torch.randn(2, 4 * 5 + 2 * 3, 2, 3, generator=g),
        torch.tensor([[4, 5], [2, 3]]),
        torch.tensor([0, 20]),
        torch.rand(2, 6, 2, 2, 3, 2, generator=g),
        torch.rand(2, 6, 2, 2, 3, generator=g),
    )
    return tuple(t.to(device) for t in args)


def tree_filter_case(device="cpu"):
    g = torch.Generator().manual_seed(2)
    guide = torch.rand(2, 3, 5, 6, generator=g)
    tree = build_tree(guide)
    args = (
        torch.rand(3, 1, 5, 6, generator=g),
        tree_edge_weights(guide, tree, 0.1),
        tree,
        torch.tensor([1, 0, 1]),
    )
    return tuple(a.to(device) for a in args)


CASES = {
    "region_levelset_energy": (region_levelset_energy, levelset_case, (3,)),
    "ms_deform_attn": (ms_deform_attn, ms_deform_attn_case, (2, 6, 6)),
    "tree_filter_with_weights": (tree_filter_with_weights, tree_filter_case, (3, 1, 5, 6)),
}


def test_every_op_has_a_fake_kernel():
    load_extension()
    names = [n for n in torch._C._dispatch_get_all_op_names() if n.startswith("box2mask::")]
    assert len(names) >= 9
    missing = [n for n in names if not torch._C._dispatch_has_kernel_for_dispatch_key(n, "Meta")]
    assert not missing, f"ops without a fake kernel (use _extension.fake_kernel): {missing}"


@pytest.mark.parametrize("name", CASES)
def test_no_value_reads_off_the_cpu(name, request):
    """Meta tensors have no values: the wrappers must run on them without the debug switch
    (as on an accelerator, without synchronising), and read values with it."""
    fn, case, shape = CASES[name]
    out = fn(*case("meta"))
    assert out.device.type == "meta" and tuple(out.shape) == shape
    request.getfixturevalue("debug_checks")
    with pytest.raises((RuntimeError, NotImplementedError), match="meta"):
        fn(*case("meta"))


@pytest.mark.parametrize("name", CASES)
def test_torch_compile(name):
    """A whole-graph compile of one call (forward and backward) gives the eager result."""
    fn, case, _ = CASES[name]
    args = case()
    leaves = [a.requires_grad_() for a in args if torch.is_tensor(a) and a.is_floating_point()]
    eager = fn(*args)
    grads = torch.autograd.grad(eager.square().sum(), leaves)
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True)(*args)
    compiled_grads = torch.autograd.grad(compiled.square().sum(), leaves)
    torch.testing.assert_close(compiled, eager)
    for g, e in zip(compiled_grads, grads):
        torch.testing.assert_close(g, e)
