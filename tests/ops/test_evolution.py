"""evolve_levelset: explicit Chan–Vese evolution from boxes."""

import pytest
import torch

from box2mask.ops import evolve_levelset


def _toy_star(seed, size=96):
    """A textured star on a textured background with noise, in [0, 255]; its box and mask."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    r = ((yy - 48) ** 2 + (xx - 46) ** 2).sqrt()
    star = r <= 20 + 7 * torch.cos(5 * torch.atan2(yy - 48, xx - 46))
    fg = torch.tensor([0.7, 0.5, 0.3])[:, None, None] + 0.15 * torch.sin(xx / 2 + yy / 3)[None]
    bg = (
        torch.tensor([0.4, 0.45, 0.5])[:, None, None]
        + 0.15 * (torch.sin(xx / 5) * torch.cos(yy / 4))[None]
    )
    image = torch.where(star[None], fg, bg) + 0.12 * torch.randn(3, size, size, generator=g)
    ys, xs = star.nonzero(as_tuple=True)
    box = torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]).float()
    return image * 255, box, star


def _iou(a, b):
    return ((a & b).sum() / (a | b).sum()).item()


@pytest.mark.parametrize("seed", [0, 1])
def test_beats_the_box_mask(seed):
    image, box, star = _toy_star(seed)
    box_mask = torch.zeros_like(star)
    x0, y0, x1, y1 = box[0].long().tolist()
    box_mask[y0:y1, x0:x1] = True
    masks = evolve_levelset(image, box)
    assert masks.shape == (1, 96, 96) and masks.dtype == torch.bool
    assert not (masks[0] & ~box_mask).any()  # kept inside the box
    iou_box, iou_evolved = _iou(box_mask, star), _iou(masks[0], star)
    assert iou_evolved > iou_box + 0.2, (iou_box, iou_evolved)
    # The tight box (margin 0) beats the box fill too.
    assert _iou(evolve_levelset(image, box, margin=0)[0], star) > iou_box + 0.2


def test_scale_invariant_and_several_boxes():
    image, box, star = _toy_star(0)
    boxes = torch.cat([box, box + 0.0, torch.tensor([[10.0, 10, 10, 30]])])  # 3rd: zero width
    masks = evolve_levelset(image, boxes, steps=50)
    assert torch.equal(masks[0], masks[1]) and not masks[2].any()
    torch.testing.assert_close(
        evolve_levelset((image - 128) / 64, box, steps=50)[0].float(),
        masks[0].float(),
        atol=0.02,
        rtol=0,
    )  # normalised per region: (almost) the same masks


def test_edge_cases():
    image = torch.rand(3, 20, 30)
    assert evolve_levelset(image, torch.zeros(0, 4)).shape == (0, 20, 30)
    out = evolve_levelset(image, torch.tensor([[-5.0, -5, 50, 50], [3, 4, 8, 9]]), steps=0)
    assert out[0].all() and out[1].sum() == 25  # zero steps: the box itself, clipped
    evolve_levelset(image.double(), torch.tensor([[2.0, 2, 12, 15]]), steps=10)
    with pytest.raises(ValueError, match="image must be"):
        evolve_levelset(image[0], torch.zeros(0, 4))
    with pytest.raises(ValueError, match="boxes must be"):
        evolve_levelset(image, torch.zeros(3))
    with pytest.raises(ValueError, match="dt > 0"):
        evolve_levelset(image, torch.zeros(1, 4), dt=0)


def test_cpu_kernel_registered():
    evolve_levelset(torch.rand(3, 8, 8), torch.zeros(0, 4))  # loads the extension
    assert torch._C._dispatch_has_kernel_for_dispatch_key("box2mask::evolve_levelset", "CPU")


def test_large_box_on_a_resampled_grid():
    """A region longer than max_size evolves on a coarser grid; the mask stays close to the
    one of the full-resolution evolution and far better than the box."""
    image, box, star = _toy_star(0, size=96)
    big = torch.nn.functional.interpolate(image[None], scale_factor=3, mode="bilinear")[0]
    big_star = star.repeat_interleave(3, 0).repeat_interleave(3, 1)
    coarse = evolve_levelset(big, box * 3, max_size=64)[0]
    full = evolve_levelset(big, box * 3, max_size=4096)[0]
    x0, y0, x1, y1 = (box[0] * 3).long().tolist()
    box_mask = torch.zeros_like(big_star)
    box_mask[y0:y1, x0:x1] = True
    assert not (coarse & ~box_mask).any()
    assert _iou(coarse, big_star) > _iou(box_mask, big_star) + 0.2
    assert _iou(coarse, full) > 0.9
    with pytest.raises(ValueError, match="max_size"):
        evolve_levelset(image, box, max_size=4)


def test_opcheck():
    image, box, _ = _toy_star(0, size=48)
    pix = torch.tensor([[4, 5, 30, 40], [0, 0, 0, 3]])
    torch.library.opcheck(
        torch.ops.box2mask.evolve_levelset, (image.contiguous(), pix, 20, 4, 0.5, 0.5, 1.0)
    )


def test_cuda_kernel_registered_when_built():
    from box2mask.ops import cuda_built

    if not cuda_built():
        pytest.skip("extension built without CUDA")
    assert torch._C._dispatch_has_kernel_for_dispatch_key("box2mask::evolve_levelset", "CUDA")
