"""Every compiled op on CUDA against its CPU kernel: values and gradients on random and
degenerate inputs, gradcheck in float64, autocast, and the current CUDA stream.

Each comparison runs the op on CPU inputs and on CUDA copies of them, then backward with one
fixed random output gradient. Tolerances (CUDA against CPU; the kernels share their per-element
math, only summation orders and atomic adds differ):

    float64: rtol 1e-9,  atol 1e-11
    float32: rtol 1e-4,  atol 1e-5   (location gradients of MSDeformAttn: atol scaled by their
                                      largest magnitude, which grows with the level size)
    autocast (ops compute in float32, MSDeformAttn casts back to half): rtol = atol = 1e-2

Marked ``cuda``; skipped with "no CUDA device" where there is none.
"""
import pytest
import torch

from box2mask.ops import (
    build_tree,
    cuda_built,
    evolve_levelset,
    load_extension,
    ms_deform_attn,
    region_levelset_energy,
    tree_filter,
    tree_filter_with_weights,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

DTYPES = [torch.float64, torch.float32]
TOL = {torch.float64: dict(rtol=1e-9, atol=1e-11), torch.float32: dict(rtol=1e-4, atol=1e-5)}
AUTOCAST_TOL = dict(rtol=1e-2, atol=1e-2)


@pytest.fixture(autouse=True)
def _deterministic_math():
    """No TF32 anywhere (the CPU has none); restored afterwards."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _cuda_kernel(op: str) -> bool:
    load_extension()
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"box2mask::{op}", "CUDA")


def _strided(t: torch.Tensor) -> torch.Tensor:
    """The same values in a non-contiguous view (every other element of the last dim)."""
    return torch.stack([t, torch.zeros_like(t)], -1)[..., 0]


def _run(fn, args, diff, device, transform=None):
    """``fn(*args)`` on ``device`` and the gradients of ``args[i]`` for i in ``diff``.

    The output gradient is a fixed random tensor; ``transform`` (e.g. :func:`_strided`) is
    applied to every tensor argument on the device before the call.
    """
    leaves = [a.detach().to(device).requires_grad_(i in diff) for i, a in enumerate(args)]
    call = [transform(a) if transform else a for a in leaves]
    out = fn(*call)
    if not diff:
        return out, ()
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(123), dtype=torch.float64)
    grads = torch.autograd.grad(out, [leaves[i] for i in diff], g.to(out), allow_unused=True)
    return out, grads


def _assert_cuda_matches_cpu(fn, args, diff, dtype, transform=None, grad_scale=()):
    """CUDA result and gradients equal the CPU kernel's within ``TOL[dtype]``; the gradients of
    the arguments in ``grad_scale`` get atol scaled by their largest magnitude."""
    out_cpu, grads_cpu = _run(fn, args, diff, "cpu", transform)
    out_gpu, grads_gpu = _run(fn, args, diff, "cuda", transform)
    assert out_gpu.device.type == "cuda" and out_gpu.dtype == out_cpu.dtype
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, **TOL[dtype])
    for i, g_gpu, g_cpu in zip(diff, grads_gpu, grads_cpu):
        assert (g_gpu is None) == (g_cpu is None), f"gradient of argument {i}"
        if g_cpu is None:
            continue
        tol = dict(TOL[dtype])
        if i in grad_scale:
            tol["atol"] *= max(1.0, g_cpu.abs().max().item()) if g_cpu.numel() else 1.0
        torch.testing.assert_close(g_gpu.cpu(), g_cpu, **tol, msg=lambda m: f"grad {i}: {m}")


def test_cuda_kernels_built():
    assert cuda_built(), "box2mask._C has no CUDA kernels: rebuild with `FORCE_CUDA=1 make setup`"


# ------------------------------------------------------------------------ region level-set energy
def levelset_case(seed, n=6, m=2, c=3, h=17, w=23, dtype=torch.float64):
    """Random probs/targets and boxes: n random ones, then empty, one-pixel, border and whole-map
    boxes (n + 5 instances in all; n = 0 and h = w = 1 allowed)."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(-4, w, (n,), generator=g)
    y0 = torch.randint(-4, h, (n,), generator=g)
    size = torch.randint(0, max(h, w), (n, 2), generator=g)
    special = [
        [w // 2, h // 2, w // 2, h // 2 + 3],  # empty (zero width)
        [w // 3, h // 3, w // 3 + 1, h // 3 + 1],  # one pixel
        [-3, -2, 4, 5],  # crosses the top-left border
        [w - 4, h - 3, w + 5, h + 2],  # crosses the bottom-right border
        [0, 0, w, h],  # the whole map
    ]
    boxes = torch.cat([torch.stack([x0, y0, x0 + size[:, 0], y0 + size[:, 1]], 1),
                       torch.tensor(special)])  # fmt: skip
    probs = torch.rand(boxes.shape[0], h, w, generator=g, dtype=dtype)
    targets = torch.randn(m, c, h, w, generator=g, dtype=dtype)
    index = torch.randint(0, m, (boxes.shape[0],), generator=g)
    return probs, targets, boxes, index


def _levelset(length_weight):
    return lambda p, u, b, i: region_levelset_energy(p, u, b, i, length_weight)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("length_weight", [0.0, 0.3])
@pytest.mark.parametrize("seed", range(3))
def test_levelset_matches_cpu(seed, length_weight, dtype):
    case = levelset_case(seed, n=4 + 3 * seed, m=1 + seed, c=1 + seed, h=9 + 11 * seed,
                         w=31 - 7 * seed, dtype=dtype)  # fmt: skip
    _assert_cuda_matches_cpu(_levelset(length_weight), case, (0, 1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_levelset_per_instance_targets_and_non_contiguous(dtype):
    probs, _, boxes, _ = levelset_case(10, n=5, dtype=dtype)
    targets = torch.randn(probs.shape[0], 2, *probs.shape[1:], dtype=dtype)
    case = (probs, targets, boxes, torch.arange(probs.shape[0]))
    _assert_cuda_matches_cpu(_levelset(0.1), case, (0, 1), dtype, transform=_strided)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, h, w", [(0, 8, 9), (0, 1, 1), (3, 1, 1), (2, 1, 40)])
def test_levelset_degenerate_sizes(n, h, w, dtype):
    """N = 0 random boxes (only the special ones) on tiny maps, and no instance at all."""
    case = levelset_case(20, n=n, h=h, w=w, dtype=dtype)
    _assert_cuda_matches_cpu(_levelset(0.2), case, (0, 1), dtype)
    empty = (case[0][:0], case[1], case[2][:0], case[3][:0])
    _assert_cuda_matches_cpu(_levelset(0.2), empty, (0, 1), dtype)


def test_levelset_gradcheck():
    probs, targets, boxes, index = (t.cuda() for t in levelset_case(30, n=2, m=2, c=2, h=6, w=7))
    for length_weight in (0.0, 0.5):
        assert torch.autograd.gradcheck(
            lambda p, u: region_levelset_energy(p, u, boxes, index, length_weight),
            (probs.requires_grad_(), targets.requires_grad_()),
        )


# ------------------------------------------------------------------------------------ tree filter
def tree_case(seed, n=3, batch=2, c=2, h=11, w=13, dtype=torch.float64):
    """x [n, c, h, w], guide [batch, 3, h, w], image_index [n]; with batch > 1 the last image
    has no instance."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g, dtype=dtype)
    guide = torch.rand(batch, 3, h, w, generator=g, dtype=dtype)
    index = torch.randint(0, max(batch - 1, 1), (n,), generator=g)
    return x, guide, index


def _tree_filter(guide_cpu, index, sigma, learn_guide):
    """tree_filter(x, guide) along the CPU-built tree of ``guide_cpu`` (moved to x's device)."""
    tree = build_tree(guide_cpu)
    return lambda x, guide: tree_filter(
        x, guide, sigma, index.to(x.device), learn_guide=learn_guide, tree=tree
    )[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("learn_guide", [False, True])
@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize(
    "n, batch, h, w", [(3, 2, 11, 13), (5, 3, 24, 7), (0, 2, 6, 6), (2, 1, 1, 1), (2, 1, 1, 30)]
)
def test_tree_filter_matches_cpu(n, batch, h, w, contiguous, learn_guide, dtype):
    x, guide, index = tree_case(h * w + n, n=n, batch=batch, h=h, w=w, dtype=dtype)
    fn = _tree_filter(guide, index, 0.5, learn_guide)
    diff = (0, 1) if learn_guide else (0,)
    _assert_cuda_matches_cpu(fn, (x, guide), diff, dtype, None if contiguous else _strided)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tree_filter_with_weights_matches_cpu(dtype):
    """Edge weights over their whole range (0, 1], not only exp(-d²/σ) of a smooth guide."""
    x, guide, index = tree_case(40, n=4, batch=2, h=16, w=9, dtype=dtype)
    tree = build_tree(guide)
    weight = torch.rand(2, 16 * 9, generator=torch.Generator().manual_seed(41), dtype=dtype)

    def fn(x_, weight_):
        return tree_filter_with_weights(x_, weight_, tree.to(x_.device), index.to(x_.device))

    _assert_cuda_matches_cpu(fn, (x, weight.clamp_min(1e-3)), (0, 1), dtype)


def test_build_tree_from_cuda_guide():
    """The tree (MST and BFS run on the CPU) of a CUDA guide is the CPU guide's, on the GPU."""
    _, guide, _ = tree_case(50, batch=3, h=19, w=17, dtype=torch.float32)
    tree_gpu, tree_cpu = build_tree(guide.cuda()), build_tree(guide)
    for name, a, b in zip(tree_cpu._fields, tree_gpu, tree_cpu):
        assert a.device.type == "cuda", name
        assert torch.equal(a.cpu(), b), name


def test_tree_filter_gradcheck():
    x, guide, index = (t.cuda() for t in tree_case(60, n=3, batch=2, h=4, w=5))
    tree = build_tree(guide)  # fixed: the MST is piecewise constant in the guide

    def fn(x_, guide_):
        return tree_filter(x_, guide_, 1.5, index, learn_guide=True, tree=tree)[0]

    assert torch.autograd.gradcheck(
        fn, (x.requires_grad_(), guide.requires_grad_()), eps=1e-6, atol=1e-7
    )

    def fn_x(x_):
        return tree_filter(x_, guide.detach(), 1.5, index, tree=tree)[0]

    assert torch.autograd.gradcheck(fn_x, (x,), eps=1e-6, atol=1e-7)


# ------------------------------------------------------------------------ deformable attention
def msda_case(levels, B=2, M=3, D=5, Q=7, P=2, dtype=torch.float64, seed=0):
    """value, spatial_shapes, level_start_index, locations (some outside [0, 1]), weights."""
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor(levels, dtype=torch.long).view(-1, 2)
    areas = shapes.prod(1)
    starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    L = shapes.shape[0]
    value = torch.randn(B, int(areas.sum()), M, D, generator=g, dtype=dtype)
    loc = torch.rand(B, Q, M, L, P, 2, generator=g, dtype=dtype) * 1.4 - 0.2
    weights = torch.rand(B, Q, M, L, P, generator=g, dtype=dtype)
    return value, shapes, starts, loc, weights


MSDA_LEVELS = [
    [[4, 6]],
    [[5, 7], [3, 2], [1, 1]],  # odd sizes, a 1×1 level
    [[25, 34], [13, 17], [7, 9]],  # strides 8, 16, 32 of a 200×272 input
    [[3, 4], [0, 5], [2, 0]],  # empty levels read zeros
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("levels", MSDA_LEVELS)
def test_ms_deform_attn_matches_cpu(levels, contiguous, dtype):
    case = msda_case(levels, dtype=dtype, seed=len(levels))
    transform = None if contiguous else _strided
    _assert_cuda_matches_cpu(ms_deform_attn, case, (0, 3, 4), dtype, transform, grad_scale=(3,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B, Q", [(2, 0), (1, 1), (0, 3)])
def test_ms_deform_attn_empty_batch_or_queries(B, Q, dtype):
    case = msda_case([[3, 4], [2, 2]], B=B, Q=Q, dtype=dtype, seed=70)
    _assert_cuda_matches_cpu(ms_deform_attn, case, (0, 3, 4), dtype, grad_scale=(3,))


def test_ms_deform_attn_many_queries_share_values():
    """Atomic adds of the value gradient: many queries read the same few pixels."""
    case = msda_case([[2, 2]], B=1, M=1, D=4, Q=4096, P=4, dtype=torch.float32, seed=80)
    _assert_cuda_matches_cpu(ms_deform_attn, case, (0, 3, 4), torch.float32, grad_scale=(3,))


def test_ms_deform_attn_gradcheck():
    value, shapes, starts, loc, weights = (
        t.cuda() for t in msda_case([[3, 4], [2, 3]], B=1, M=2, D=2, Q=3, seed=90)
    )
    args = (value.requires_grad_(), shapes, starts, loc.requires_grad_(), weights.requires_grad_())
    assert torch.autograd.gradcheck(ms_deform_attn, args, eps=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------- evolution
def evolution_case(seed, dtype=torch.float32):
    """A bright disc on a noisy background; boxes: around it, at the border, one pixel, empty."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    disc = ((yy - 20) ** 2 + (xx - 30) ** 2) < 12**2
    image = disc.to(dtype)[None].repeat(3, 1, 1) + 0.3 * torch.randn(3, 48, 64, generator=g)
    boxes = torch.tensor(
        [[16.0, 6, 44, 34], [-5, -5, 20, 15], [50, 30, 70, 60], [10, 10, 11, 11], [5, 5, 5, 9]]
    )
    return image.to(dtype) * 255, boxes


NO_EVOLUTION_KERNEL = "evolve_levelset has no CUDA kernel (it runs on the CPU)"


@pytest.mark.parametrize("dtype", DTYPES)
def test_evolution_matches_cpu(dtype):
    """Explicit iterations amplify rounding: masks may differ on a few boundary pixels."""
    if not _cuda_kernel("evolve_levelset"):
        pytest.skip(NO_EVOLUTION_KERNEL)
    image, boxes = evolution_case(100, dtype)
    masks_cpu = evolve_levelset(image, boxes, steps=100)
    masks_gpu = evolve_levelset(image.cuda(), boxes.cuda(), steps=100)
    assert masks_gpu.device.type == "cuda" and masks_gpu.shape == masks_cpu.shape
    masks_gpu = masks_gpu.cpu()
    differing = (masks_gpu ^ masks_cpu).flatten(1).sum(1)
    assert (differing <= 0.01 * masks_cpu.flatten(1).sum(1).clamp_min(1)).all(), differing
    assert not masks_gpu[4].any() and masks_cpu[0].any()
    empty = torch.zeros(0, 4)
    assert evolve_levelset(image.cuda(), empty.cuda()).shape == (0, 48, 64)


# ------------------------------------------------------------------- autocast and streams
def _op_cases():
    """(name, fn, float32 CPU args, indices of the floating arguments) for every op."""
    x, guide, index = tree_case(110, n=3, batch=2, h=12, w=10, dtype=torch.float32)
    cases = [
        ("levelset", _levelset(0.1), levelset_case(111, dtype=torch.float32), (0, 1)),
        ("tree_filter", _tree_filter(guide, index, 0.5, True), (x, guide), (0, 1)),
        ("ms_deform_attn", ms_deform_attn,
         msda_case(MSDA_LEVELS[1], dtype=torch.float32, seed=112), (0, 3, 4)),
    ]  # fmt: skip
    return cases


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_ops_under_autocast(dtype):
    """Under autocast every op computes in float32: float32 inputs give the float32 result,
    half inputs the float32 result of the rounded inputs (MSDeformAttn returns it in half), and
    the gradients come back in the inputs' dtype."""
    for name, fn, args, diff in _op_cases():
        half = [a.to(dtype) if i in diff else a for i, a in enumerate(args)]
        expected, _ = _run(fn, args, diff, "cuda")
        expected_half, _ = _run(fn, [a.float() if i in diff else a for i, a in enumerate(half)],
                                diff, "cuda")  # fmt: skip
        with torch.autocast("cuda", dtype=dtype):
            out, _ = _run(fn, args, diff, "cuda")
            out_half, grads = _run(fn, half, diff, "cuda")
        torch.testing.assert_close(out, expected, **TOL[torch.float32], msg=name)
        assert out_half.dtype in (torch.float32, dtype), name
        torch.testing.assert_close(out_half.float(), expected_half, **AUTOCAST_TOL, msg=name)
        for i, g in zip(diff, grads):
            assert g.dtype == dtype and torch.isfinite(g.float()).all(), (name, i)


SLEEP_CYCLES = 2_000_000_000  # about a second of one spinning thread at 1.5-2 GHz


@pytest.mark.parametrize("name", ["levelset", "tree_filter", "ms_deform_attn", "evolution"])
def test_kernels_run_on_the_current_stream(name):
    """Launched on a side stream while the default stream is busy, each op (forward and
    backward) finishes and its results read back on the side stream without waiting for the
    default stream: a kernel that ignored the current stream would still be queued behind the
    sleep, and its outputs read back unwritten."""
    if name == "evolution":
        if not _cuda_kernel("evolve_levelset"):
            pytest.skip(NO_EVOLUTION_KERNEL)
        image, boxes = evolution_case(120)
        fn, args, diff = (lambda i, b: evolve_levelset(i, b, steps=50)), (image, boxes), ()
    else:
        _, fn, args, diff = next(c for c in _op_cases() if c[0] == name)
    out_cpu, grads_cpu = _run(fn, args, diff, "cpu")
    inputs = [a.cuda() for a in args]
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    torch.cuda._sleep(SLEEP_CYCLES)  # the default stream is busy from here on
    with torch.cuda.stream(side):
        leaves = [a.requires_grad_(i in diff) for i, a in enumerate(inputs)]
        out = fn(*leaves)
        grads = ()
        if diff:
            g = torch.randn(out.shape, generator=torch.Generator().manual_seed(123),
                            dtype=torch.float64)  # fmt: skip
            grads = torch.autograd.grad(out, [leaves[i] for i in diff], g.to(out))
        side.synchronize()
        results = [out.cpu(), *(t.cpu() for t in grads)]  # copies on the side stream
    assert not torch.cuda.default_stream().query(), "the sleep ended too early: lengthen it"
    torch.cuda.synchronize()
    if out.dtype == torch.bool:
        assert (results[0] ^ out_cpu).float().mean() < 0.01
    else:
        torch.testing.assert_close(results[0], out_cpu, **TOL[torch.float32])
        for g_gpu, g_cpu in zip(results[1:], grads_cpu):
            tol = dict(TOL[torch.float32], atol=1e-5 * max(1.0, g_cpu.abs().max().item()))
            torch.testing.assert_close(g_gpu, g_cpu, **tol)
