"""Multi-scale deformable attention: compiled op vs grid_sample reference, gradcheck, autocast,
contiguity, empty and malformed inputs, kernel registration."""
import pytest
import torch

from box2mask.ops import cuda_built, load_extension, ms_deform_attn, ms_deform_attn_reference


def make_inputs(shapes, B=2, M=3, D=5, Q=7, P=2, dtype=torch.float64, spread=0.2, seed=0):
    """Random inputs; locations uniform in [-spread, 1 + spread] (some outside the maps).

    Returns:
        list: value [B, S, M, D], spatial_shapes [L, 2], level_start_index [L],
            sampling_locations [B, Q, M, L, P, 2], attention_weights [B, Q, M, L, P].
    """
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor(shapes, dtype=torch.long).view(-1, 2)
    areas = shapes.prod(1)
    starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    S, L = int(areas.sum()), shapes.shape[0]
    value = torch.randn(B, S, M, D, generator=g, dtype=dtype)
    loc = torch.rand(B, Q, M, L, P, 2, generator=g, dtype=dtype) * (1 + 2 * spread) - spread
    weights = torch.rand(B, Q, M, L, P, generator=g, dtype=dtype)
    return [value, shapes, starts, loc, weights]


def run(fn, inputs, grad_out=None):
    """Output and gradients of (value, sampling_locations, attention_weights)."""
    value, shapes, starts, loc, weights = inputs
    leaves = [t.detach().clone().requires_grad_() for t in (value, loc, weights)]
    out = fn(leaves[0], shapes, starts, leaves[1], leaves[2])
    if grad_out is None:
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(out, leaves, grad_out.to(out.dtype), allow_unused=True)
    return out, grads


def assert_matches_reference(inputs, rtol, atol):
    out, grads = run(ms_deform_attn, inputs)
    ref, ref_grads = run(ms_deform_attn_reference, inputs)
    torch.testing.assert_close(out, ref, rtol=rtol, atol=atol)
    for name, g, r in zip(("value", "sampling_locations", "attention_weights"), grads, ref_grads):
        # Location gradients scale with the level size (d/dx = W d/d pixel).
        scale = max(1.0, r.abs().max().item())
        torch.testing.assert_close(g, r, rtol=rtol, atol=atol * scale, msg=lambda m: f"{name}: {m}")


LEVELS = [
    [[4, 6]],
    [[5, 7], [3, 2], [1, 1]],  # odd sizes, a 1x1 level
    [[8, 8], [4, 4], [2, 2], [1, 3]],
    [[2, 9], [9, 2]],
    [[3, 4], [0, 5], [2, 0]],  # empty levels read zeros
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("levels", LEVELS)
def test_matches_reference(levels, dtype):
    inputs = make_inputs(levels, dtype=dtype, seed=len(levels))
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert_matches_reference(inputs, rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", range(4))
def test_matches_reference_random_shapes(seed):
    g = torch.Generator().manual_seed(100 + seed)

    def r(lo, hi):
        return int(torch.randint(lo, hi + 1, (1,), generator=g))

    levels = [[r(1, 9), r(1, 9)] for _ in range(r(1, 4))]
    sizes = dict(B=r(1, 3), M=r(1, 4), D=r(1, 9), Q=r(1, 20), P=r(1, 4))
    inputs = make_inputs(levels, spread=0.5, seed=seed, **sizes)
    assert_matches_reference(inputs, rtol=1e-10, atol=1e-10)


def test_far_outside_and_nonfinite_locations_read_zero():
    inputs = make_inputs([[3, 4], [2, 2]], B=1, M=1, Q=4, P=1)
    loc = inputs[3]
    loc[0, 0] = 5.0
    loc[0, 1] = -3.0
    loc[0, 2] = float("nan")
    loc[0, 3, :, :, :, 0] = float("inf")
    out = ms_deform_attn(*inputs)
    assert torch.equal(out, torch.zeros_like(out))
    _, grads = run(ms_deform_attn, inputs)
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_lattice_locations_hit_pixels():
    """At a pixel centre the op returns that pixel; corners and borders match grid_sample."""
    shapes = [[3, 5], [2, 2]]
    inputs = make_inputs(shapes, B=1, M=2, D=3, Q=1, P=1)
    value, shapes_t, starts, loc, weights = inputs
    weights.fill_(1.0)
    loc[..., 0, :, :] = torch.tensor([(3 + 0.5) / 5, (1 + 0.5) / 3], dtype=loc.dtype)
    loc[..., 1, :, :] = 2.0  # outside level 1
    out = ms_deform_attn(*inputs)
    torch.testing.assert_close(out.view(2, 3), value[0, 1 * 5 + 3])
    grid = torch.linspace(-0.25, 1.25, 13, dtype=torch.float64)  # steps of 1/8
    for x in grid[::3]:
        for y in grid[::2]:
            loc[..., 0] = x
            loc[..., 1] = y
            torch.testing.assert_close(
                ms_deform_attn(*inputs), ms_deform_attn_reference(*inputs), rtol=0, atol=1e-12
            )


def test_gradcheck():
    value, shapes, starts, loc, weights = make_inputs([[3, 4], [2, 3]], B=1, M=2, D=2, Q=3)
    # Random locations (some outside the maps) lie on a pixel-grid line, where the bilinear
    # map has a kink, with probability zero.
    args = (
        value.requires_grad_(),
        shapes,
        starts,
        loc.requires_grad_(),
        weights.requires_grad_(),
    )
    assert torch.autograd.gradcheck(ms_deform_attn, args, eps=1e-6, atol=1e-6)


def test_multithreaded_value_gradient_chunks():
    """With more threads than (batch, head) pairs the queries are split into chunks, each
    accumulating its own value gradient; the sum must not depend on the split."""
    inputs = make_inputs([[6, 5], [3, 3]], B=1, M=1, D=4, Q=300, P=3, spread=0.0)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _, single = run(ms_deform_attn, inputs)
        torch.set_num_threads(2)
        _, multi = run(ms_deform_attn, inputs)
    finally:
        torch.set_num_threads(old)
    _, ref = run(ms_deform_attn_reference, inputs)
    for a, b, r in zip(single, multi, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(b, r, rtol=1e-10, atol=1e-10)


def test_non_contiguous_inputs():
    value, shapes, starts, loc, weights = make_inputs([[4, 5], [2, 3]], B=2, M=2, D=3, Q=5)
    nc_value = value.transpose(2, 3).contiguous().transpose(2, 3)  # same values, other strides
    nc_loc = loc.transpose(1, 2).contiguous().transpose(1, 2)
    nc_weights = weights.transpose(0, 1).contiguous().transpose(0, 1)
    nc_shapes = torch.stack([shapes[:, 0], shapes[:, 1]], 0).t()
    nc_starts = torch.stack([starts, starts], 1)[:, 0]
    assert not any(
        t.is_contiguous() for t in (nc_value, nc_loc, nc_weights, nc_shapes, nc_starts)
    )
    nc = [nc_value, nc_shapes, nc_starts, nc_loc, nc_weights]
    out, grads = run(ms_deform_attn, nc)
    ref, ref_grads = run(ms_deform_attn, [value, shapes, starts, loc, weights])
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16])
def test_autocast_low_precision_computed_in_float32(low):
    inputs = make_inputs([[4, 5], [2, 3]], B=1, M=2, D=4, Q=6, dtype=torch.float32)
    value, shapes, starts, loc, weights = inputs
    low_inputs = [value.to(low), shapes, starts, loc.to(low), weights]  # weights stay float32
    with torch.autocast("cpu", dtype=low):
        out, grads = run(ms_deform_attn, low_inputs)
    assert out.dtype == low
    assert [g.dtype for g in grads] == [low, low, torch.float32]
    # Same as float32 on the rounded inputs, up to the final rounding.
    rounded = [value.to(low).float(), shapes, starts, loc.to(low).float(), weights]
    ref = ms_deform_attn_reference(*rounded)
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)
    assert out.float().sub(ref).abs().max() <= ref.abs().max() * 2 ** -7  # one low-precision ulp


@pytest.mark.parametrize("B,Q", [(0, 4), (2, 0), (0, 0)])
def test_empty_batch_or_queries(B, Q):
    value, shapes, starts, loc, weights = make_inputs([[3, 3]], B=max(B, 1), M=2, D=3, Q=max(Q, 1))
    value = value[:B]
    loc, weights = loc[:B, :Q], weights[:B, :Q]
    out, grads = run(ms_deform_attn, [value, shapes, starts, loc, weights])
    assert out.shape == (B, Q, 6)
    assert grads[0].shape == value.shape and grads[1].shape == loc.shape
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_malformed_inputs_raise():
    good = make_inputs([[3, 4], [2, 2]], B=1, M=2, D=3, Q=4)
    value, shapes, starts, loc, weights = good

    def call(**kw):
        args = dict(
            value=value,
            spatial_shapes=shapes,
            level_start_index=starts,
            sampling_locations=loc,
            attention_weights=weights,
        )
        args.update(kw)
        return ms_deform_attn(**args)

    with pytest.raises(ValueError, match=r"value must be \[B, S, M, D\]"):
        call(value=value[0])
    with pytest.raises(ValueError, match="spatial_shapes must be"):
        call(spatial_shapes=shapes[:, :1])
    with pytest.raises(ValueError, match="level_start_index must be"):
        call(level_start_index=starts[:1])
    with pytest.raises(TypeError, match="torch.long"):
        call(spatial_shapes=shapes.int())
    with pytest.raises(ValueError, match="sampling_locations must be"):
        call(sampling_locations=loc[..., :1])
    with pytest.raises(ValueError, match="sampling_locations must be"):
        call(sampling_locations=loc[:, :, :1])
    with pytest.raises(ValueError, match="attention_weights must be"):
        call(attention_weights=weights[..., :1])
    with pytest.raises(TypeError, match="floating point"):
        call(attention_weights=weights.long())
    with pytest.raises(TypeError, match="share one dtype"):
        call(value=value.float())
    with pytest.raises(TypeError, match="float64 with float16"):
        call(value=value.half())
    with pytest.raises(ValueError, match="do not fit"):
        call(level_start_index=starts + 1)
    with pytest.raises(ValueError, match="do not fit"):
        call(value=value[:, :-1])
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        call(spatial_shapes=[[3, 4], [2, 2]])
    with pytest.raises(ValueError, match="one device"):
        call(value=value.to("meta"))


def test_kernels_registered():
    ops = ("box2mask::ms_deform_attn_forward", "box2mask::ms_deform_attn_backward")
    for op in ops:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(op, "CPU")
    if cuda_built():
        for op in ops:
            assert torch._C._dispatch_has_kernel_for_dispatch_key(op, "CUDA"), op


def test_raw_op_checks_its_arguments():
    value, shapes, starts, loc, weights = make_inputs([[3, 4]], B=1, M=2, D=3, Q=4)
    with pytest.raises(RuntimeError, match="share one dtype"):
        torch.ops.box2mask.ms_deform_attn_forward(value, shapes, starts, loc.float(), weights)
    with pytest.raises(RuntimeError, match="does not fit"):
        torch.ops.box2mask.ms_deform_attn_forward(value, shapes, starts + 5, loc, weights)
    with pytest.raises(RuntimeError, match="grad_output must be"):
        torch.ops.box2mask.ms_deform_attn_backward(
            value, shapes, starts, loc, weights, torch.zeros(1, 4, 5, dtype=value.dtype)
        )


def test_opcheck():
    """Schema, fake (shape) kernels and autograd registration, as torch.compile needs them."""
    load_extension()
    inputs = make_inputs([[3, 4], [2, 2]], B=1, M=2, D=3, Q=4)
    grad_out = torch.randn(1, 4, 6, dtype=torch.float64)
    torch.library.opcheck(torch.ops.box2mask.ms_deform_attn_forward.default, tuple(inputs))
    torch.library.opcheck(
        torch.ops.box2mask.ms_deform_attn_backward.default, (*inputs, grad_out)
    )
