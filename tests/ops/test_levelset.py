"""region_levelset_energy: compiled op vs the plain PyTorch reference."""

import pytest
import torch

from box2mask.ops import (
    cuda_built,
    load_extension,
    region_levelset_energy,
    region_levelset_energy_reference,
)
from box2mask.ops.levelset import box_masks_from_int_boxes


@pytest.fixture(autouse=True)
def _extension():
    load_extension()  # registers torch.ops.box2mask.* (some tests call the ops directly)


def _random_case(seed, n=6, m=2, c=3, h=17, w=23, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, h, w, generator=g, dtype=dtype)
    targets = torch.randn(m, c, h, w, generator=g, dtype=dtype)
    x0 = torch.randint(-4, w, (n,), generator=g)
    y0 = torch.randint(-4, h, (n,), generator=g)
    bw = torch.randint(0, w, (n,), generator=g)
    bh = torch.randint(0, h, (n,), generator=g)
    boxes = torch.stack([x0, y0, x0 + bw, y0 + bh], 1)
    index = torch.randint(0, m, (n,), generator=g)
    return probs, targets, boxes, index


def _compare(probs, targets, boxes, index, length_weight=0.0, rtol=1e-5, atol=1e-7):
    """Assert op == reference in value and in both gradients."""
    p1 = probs.detach().clone().requires_grad_()
    u1 = targets.detach().clone().requires_grad_()
    p2 = probs.detach().clone().requires_grad_()
    u2 = targets.detach().clone().requires_grad_()
    e1 = region_levelset_energy(p1, u1, boxes, index, length_weight)
    e2 = region_levelset_energy_reference(p2, u2, boxes, index, length_weight)
    torch.testing.assert_close(e1, e2, rtol=rtol, atol=atol)
    weights = torch.linspace(0.5, 1.5, probs.shape[0], dtype=probs.dtype)
    (e1 * weights).sum().backward()
    (e2 * weights).sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=rtol, atol=atol)
    torch.testing.assert_close(u1.grad, u2.grad, rtol=rtol, atol=atol)
    return e1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("length_weight", [0.0, 0.2])
def test_matches_reference_float64(seed, length_weight):
    g = torch.Generator().manual_seed(100 + seed)
    n, m, c = (int(v) for v in torch.randint(1, 7, (3,), generator=g))
    h, w = (int(v) for v in torch.randint(1, 30, (2,), generator=g))
    _compare(*_random_case(seed, n, m, c, h, w), length_weight=length_weight, rtol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_matches_reference_float32(seed):
    case = _random_case(seed, n=8, m=3, c=4, h=40, w=31, dtype=torch.float32)
    e = _compare(*case, rtol=1e-4, atol=1e-6)
    assert e.dtype == torch.float32


@pytest.mark.parametrize("length_weight", [0.0, 0.5])
def test_gradcheck(length_weight):
    probs, targets, boxes, index = _random_case(7, n=3, m=2, c=2, h=7, w=8)
    probs.requires_grad_()
    targets.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p, u: region_levelset_energy(p, u, boxes, index, length_weight), (probs, targets)
    )


def test_per_instance_targets():
    """The feature term: one target row per instance (M = N)."""
    probs, targets, boxes, _ = _random_case(3, n=5, m=5, c=6)
    _compare(probs, targets, boxes, torch.arange(5), length_weight=0.1, rtol=1e-10)


@pytest.mark.parametrize(
    "box",
    [
        [3, 4, 3, 9],  # zero width
        [2, 5, 8, 5],  # zero height
        [9, 9, 4, 4],  # inverted
        [-10, -10, -2, -2],  # entirely outside
        [30, 2, 40, 8],  # entirely right of the map
    ],
)
def test_zero_area_box_gives_zero_energy_and_gradient(box):
    probs, targets, _, _ = _random_case(1, n=1, m=1, h=12, w=15)
    probs.requires_grad_()
    targets.requires_grad_()
    boxes = torch.tensor([box])
    e = region_levelset_energy(probs, targets, boxes, torch.zeros(1, dtype=torch.long), 0.3)
    assert e.item() == 0.0
    e.sum().backward()
    assert probs.grad.abs().max() == 0 and targets.grad.abs().max() == 0


@pytest.mark.parametrize(
    "box",
    [
        [4, 6, 5, 7],  # one pixel
        [0, 0, 5, 4],  # touching the top-left border
        [6, 3, 15, 12],  # touching the bottom-right border
        [-5, -7, 40, 50],  # larger than the map
        [0, 0, 15, 12],  # covering it exactly
    ],
)
@pytest.mark.parametrize("length_weight", [0.0, 0.3])
def test_degenerate_boxes(box, length_weight):
    probs, targets, _, _ = _random_case(2, n=1, m=1, h=12, w=15)
    _compare(probs, targets, torch.tensor([box]), torch.zeros(1, dtype=torch.long), length_weight)


def test_one_pixel_box_energy_is_zero():
    """A single pixel is its own region mean: no energy (but a finite gradient)."""
    probs, targets, _, _ = _random_case(2, n=1, m=1, h=12, w=15)
    e = region_levelset_energy(probs, targets, torch.tensor([[4, 6, 5, 7]]), torch.zeros(1).long())
    assert abs(e.item()) < 1e-12


def test_empty():
    probs = torch.rand(0, 9, 11, requires_grad=True)
    targets = torch.randn(2, 3, 9, 11, requires_grad=True)
    e = region_levelset_energy(probs, targets, torch.zeros(0, 4).long(), torch.zeros(0).long())
    assert e.shape == (0,)
    (e.sum() + 0 * targets.sum()).backward()
    assert probs.grad.shape == probs.shape
    assert torch.all(targets.grad == 0)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_probs(value):
    """All-foreground or all-background: one normaliser is clamped; finite and as the reference."""
    probs, targets, boxes, index = _random_case(4, n=5, m=2)
    probs = torch.full_like(probs, value)
    e = _compare(probs, targets, boxes, index, length_weight=0.1, rtol=1e-10)
    assert torch.isfinite(e).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_half_inputs_compute_in_fp32(dtype):
    probs, targets, boxes, index = _random_case(5, n=4, m=2, h=20, w=20, dtype=torch.float32)
    ph = probs.to(dtype).requires_grad_()
    uh = targets.to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=dtype):
        e = region_levelset_energy(ph, uh, boxes, index)
    assert e.dtype == torch.float32
    expected = region_levelset_energy_reference(ph.float(), uh.float(), boxes, index)
    torch.testing.assert_close(e, expected, rtol=1e-5, atol=1e-6)
    e.sum().backward()
    assert ph.grad.dtype == dtype and uh.grad.dtype == dtype
    assert torch.isfinite(ph.grad.float()).all() and torch.isfinite(uh.grad.float()).all()


def test_non_contiguous_inputs():
    probs, targets, boxes, index = _random_case(6, n=4, m=3, c=2, h=13, w=19)
    probs_t = probs.transpose(1, 2).contiguous().transpose(1, 2)  # same values, odd strides
    targets_nc = targets.permute(3, 2, 1, 0).contiguous().permute(3, 2, 1, 0)
    boxes_nc = torch.cat([boxes, boxes], 1)[:, ::2]
    boxes_nc[:] = boxes
    index_nc = torch.stack([index, index], 1)[:, 0]
    assert not (probs_t.is_contiguous() or targets_nc.is_contiguous())
    assert not (boxes_nc.is_contiguous() or index_nc.is_contiguous())
    _compare(probs_t, targets_nc, boxes_nc, index_nc, length_weight=0.1, rtol=1e-10)


def test_int32_boxes_and_index_accepted():
    probs, targets, boxes, index = _random_case(8)
    e1 = region_levelset_energy(probs, targets, boxes.int(), index.int())
    e2 = region_levelset_energy(probs, targets, boxes, index)
    torch.testing.assert_close(e1, e2)


def test_errors():
    probs, targets, boxes, index = _random_case(9, n=3, m=2, dtype=torch.float32)
    with pytest.raises(TypeError, match="probs must be a floating-point"):
        region_levelset_energy(probs.long(), targets, boxes, index)
    with pytest.raises(TypeError, match="boxes must be an integer"):
        region_levelset_energy(probs, targets, boxes.float(), index)
    with pytest.raises(TypeError, match="target_index must be an integer"):
        region_levelset_energy(probs, targets, boxes, index.float())
    with pytest.raises(ValueError, match=r"probs must be \[N, h, w\]"):
        region_levelset_energy(probs[0], targets, boxes, index)
    with pytest.raises(ValueError, match="targets must be"):
        region_levelset_energy(probs, targets[:, :, 1:], boxes, index)
    with pytest.raises(ValueError, match="boxes must be"):
        region_levelset_energy(probs, targets, boxes[:, :3], index)
    with pytest.raises(ValueError, match="target_index must be"):
        region_levelset_energy(probs, targets, boxes, index[:2])
    with pytest.raises(IndexError, match="target_index spans"):
        region_levelset_energy(probs, targets, boxes, index + 2)
    with pytest.raises(ValueError, match="one device"):
        region_levelset_energy(probs, targets.to("meta"), boxes, index)


def test_reference_box_masks():
    masks = box_masks_from_int_boxes(torch.tensor([[1, 2, 4, 3], [-2, 0, 2, 9]]), 4, 5)
    assert masks[0].sum() == 3 and masks[0, 2, 1:4].sum() == 3
    assert masks[1].sum() == 8 and masks[1, :, :2].sum() == 8


def test_opcheck():
    """Schema and fake kernels of both ops, as torch.compile needs them."""
    probs, targets, boxes, index = _random_case(10, n=3, m=2, c=2, h=6, w=7)
    ops = torch.ops.box2mask
    energy, stats = ops.region_levelset_energy_forward(probs, targets, boxes, index, 0.1)
    torch.library.opcheck(ops.region_levelset_energy_forward, (probs, targets, boxes, index, 0.1))
    grad_energy = torch.rand_like(energy)
    torch.library.opcheck(
        ops.region_levelset_energy_backward,
        (grad_energy, probs, targets, boxes, index, stats, 0.1),
    )


def test_kernels_registered():
    for name in ("region_levelset_energy_forward", "region_levelset_energy_backward"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"box2mask::{name}", "CPU")
        if cuda_built():
            assert torch._C._dispatch_has_kernel_for_dispatch_key(f"box2mask::{name}", "CUDA")
