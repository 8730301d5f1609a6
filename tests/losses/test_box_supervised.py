"""Box2Mask mask losses: projection, level set, LCM, the combined module, the supervised one."""

import pytest
import torch
from detectron2.config import get_cfg

from box2mask.config import add_box2mask_config
from box2mask.losses import (
    BoxSupervisedMaskLoss,
    box_projection_loss,
    boxes_to_mask_grid,
    local_affinity,
    local_consistency_loss,
    mask_supervised_loss,
    propagate,
)
from box2mask.losses.boxinst import boxinst_pairwise_loss, color_similarity, lab_from_loss_images

KEYS = {"loss_mask_proj", "loss_levelset", "loss_lcm"}


def _toy_disc(size=64, seed=0):
    """A textured disc on a textured, noisy background; its tight box and its mask."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    disc = (yy - 30) ** 2 + (xx - 34) ** 2 <= 15**2
    image = torch.where(disc, 0.8, -0.6)[None].repeat(3, 1, 1)
    image = image * torch.tensor([1.0, 0.5, 0.8])[:, None, None]
    image = image + 0.15 * torch.sin(xx / 3)[None] + 0.3 * torch.randn(3, size, size, generator=g)
    ys, xs = disc.nonzero(as_tuple=True)
    box = torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]).float()
    return image[None], box, disc


def _iou(a, b):
    return ((a & b).sum() / (a | b).sum()).item()


@pytest.mark.parametrize("with_structural_term", [False, True])
def test_toy_disc_optimisation_reaches_the_disc(with_structural_term):
    """Minimising the loss over a free logit map from the box fill recovers the disc."""
    images, box, disc = _toy_disc()
    _, box_mask = boxes_to_mask_grid(box, *disc.shape)
    assert _iou(box_mask[0].bool(), disc) < 0.85  # the start: the box fill
    logits = (box_mask * 6 - 3).clone().requires_grad_()
    loss_fn = BoxSupervisedMaskLoss()
    fn = None
    if with_structural_term:

        def fn(probs, images_ws, guide_ws, image_index):  # stand-in for cat(T1, T2)
            assert probs.shape[-2:] == images_ws.shape[-2:] == (96, 96)
            return images_ws[image_index, :2]

    opt = torch.optim.Adam([logits], lr=0.1)
    index = torch.zeros(1, dtype=torch.long)
    for _ in range(80):
        losses = loss_fn(logits, box, index, images, structural_targets_fn=fn)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    assert _iou(logits[0].detach() > 0, disc) >= 0.9


def test_structural_term_is_skipped_without_fn_and_uses_fn_targets():
    images, box, _ = _toy_disc(32)
    logits = torch.randn(1, 32, 32)
    index = torch.zeros(1, dtype=torch.long)
    guide = torch.randn(1, 2, 32, 32, requires_grad=True)
    no_feature = BoxSupervisedMaskLoss(levelset_feature_weight=0.0)
    full = BoxSupervisedMaskLoss()
    # Without structural_targets_fn the deep-structural term is skipped, guide or not.
    a = full(logits, box / 2, index, images, guide=guide)["loss_levelset"]
    b = no_feature(logits, box / 2, index, images)["loss_levelset"]
    torch.testing.assert_close(a, b)
    calls = []

    def fn(probs, images_ws, guide_ws, image_index):
        calls.append((probs.shape, images_ws.shape, guide_ws.shape, image_index.tolist()))
        return guide_ws[image_index] * 3

    c = full(logits, box / 2, index, images, guide=guide, structural_targets_fn=fn)
    assert calls == [((1, 96, 96), (1, 3, 96, 96), (1, 2, 96, 96), [0])]
    assert c["loss_levelset"] > a
    c["loss_levelset"].backward()
    assert guide.grad.abs().sum() > 0  # the targets get gradients (to the guide head)


def test_empty_and_unusable_instances_give_connected_zeros():
    loss_fn = BoxSupervisedMaskLoss()
    images = torch.randn(2, 3, 20, 20)
    for logits, boxes in (
        (torch.randn(0, 20, 20, requires_grad=True), torch.zeros(0, 4)),
        (torch.randn(2, 20, 20, requires_grad=True), torch.tensor([[1.0, 1, 3, 3], [5, 5, 5, 9]])),
    ):
        index = torch.zeros(len(boxes), dtype=torch.long)
        losses = loss_fn(logits, boxes, index, images)
        assert set(losses) == KEYS
        total = sum(losses.values())
        assert total.item() == 0.0 and total.requires_grad
        total.backward()
        assert torch.all(logits.grad == 0)


def test_min_box_pixels_filters_instances():
    images = torch.randn(2, 3, 24, 24)
    logits = torch.randn(2, 24, 24, requires_grad=True)
    boxes = torch.tensor([[2.0, 2, 12, 14], [20, 20, 22, 22]])  # the second has 4 pixels
    losses = BoxSupervisedMaskLoss()(logits, boxes, torch.tensor([0, 1]), images)
    sum(losses.values()).backward()
    assert logits.grad[0].abs().sum() > 0 and torch.all(logits.grad[1] == 0)
    alone = BoxSupervisedMaskLoss()(logits[:1], boxes[:1], torch.tensor([0]), images)
    for k in KEYS:
        torch.testing.assert_close(losses[k], alone[k])


def test_from_config_and_weights():
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT = 5.0
    cfg.MODEL.BOX2MASK.LOSS.LCM_WEIGHT = 0.0
    cfg.MODEL.BOX2MASK.LOSS.LCM_DILATION = 3
    cfg.MODEL.BOX2MASK.LOSS.WORKING_SIZE = 0
    loss_fn = BoxSupervisedMaskLoss(cfg)
    assert loss_fn.projection_weight == 5.0 and loss_fn.lcm_dilation == 3
    images, box, _ = _toy_disc(32)
    logits = torch.randn(1, 32, 32)
    index = torch.zeros(1, dtype=torch.long)
    losses = loss_fn(logits, box / 2, index, images)
    assert losses["loss_lcm"].item() == 0.0
    probs = logits.sigmoid()
    _, box_mask = boxes_to_mask_grid(box / 2, 32, 32)
    torch.testing.assert_close(
        losses["loss_mask_proj"], 5.0 * box_projection_loss(probs, box_mask)[0]
    )


def test_autocast_half_logits():
    images, box, _ = _toy_disc(32)
    logits = torch.randn(1, 32, 32, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = BoxSupervisedMaskLoss()(logits, box / 2, torch.zeros(1).long(), images.bfloat16())
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert torch.isfinite(logits.grad.float()).all()


def test_boxes_to_mask_grid():
    boxes = torch.tensor(
        [
            [1.0, 2.0, 4.0, 3.0],  # pixel centres 1.5..3.5 x 2.5
            [-3.0, -1.0, 2.2, 30.0],  # clipped to the map
            [5.2, 5.2, 5.4, 5.4],  # tiny: keeps the pixel holding its centre
            [20.0, 1.0, 25.0, 4.0],  # outside the map
            [3.0, 3.0, 3.0, 6.0],  # zero width
        ]
    )
    int_boxes, masks = boxes_to_mask_grid(boxes, 8, 10)
    assert int_boxes.dtype == torch.long and masks.shape == (5, 8, 10)
    assert int_boxes.tolist() == [
        [1, 2, 4, 3],
        [0, 0, 2, 8],
        [5, 5, 6, 6],
        [10, 1, 10, 4],
        [3, 3, 3, 6],
    ]
    assert masks.sum((1, 2)).tolist() == [3, 16, 1, 0, 0]
    assert masks[0, 2, 1:4].sum() == 3


def test_box_projection_loss():
    _, box_masks = boxes_to_mask_grid(torch.tensor([[2.0, 3, 7, 9]]), 12, 12)
    assert box_projection_loss(box_masks, box_masks).item() == pytest.approx(0.0, abs=1e-5)
    # A filled column inside the box projects onto one column and all rows of the box.
    probs = torch.zeros(1, 12, 12)
    probs[0, 3:9, 4] = 1
    loss = box_projection_loss(probs, box_masks).item()
    assert loss == pytest.approx(1 - 2 / 6, abs=1e-5)
    # Everything zero: the 1e-5 keeps it finite.
    assert box_projection_loss(torch.zeros(1, 12, 12), torch.zeros(1, 12, 12)).item() == 1.0 * 2


def test_lcm_parts():
    images = torch.randn(2, 3, 16, 16)
    aff = local_affinity(images, dilation=2)
    assert aff.shape == (2, 8, 16, 16)
    torch.testing.assert_close(aff.sum(1), torch.ones(2, 16, 16))
    const = torch.full((3, 16, 16), 0.7)
    torch.testing.assert_close(propagate(const, aff[[0, 1, 1]], 2, 10), const)
    _, box_masks = boxes_to_mask_grid(torch.tensor([[2.0, 2, 10, 12]] * 3), 16, 16)
    loss = local_consistency_loss(const, images, torch.tensor([0, 1, 1]), box_masks)
    assert loss.shape == (3,) and loss.abs().max() < 1e-6
    probs = torch.rand(3, 16, 16, requires_grad=True)
    for detach in (True, False):
        loss = local_consistency_loss(
            probs, images, torch.tensor([0, 1, 1]), box_masks, 3, 4, 0.3, detach
        )
        assert (loss > 0).all()
        (grad,) = torch.autograd.grad(loss.sum(), probs)
        assert torch.isfinite(grad).all()


def test_mask_supervised_loss():
    gt = torch.zeros(2, 10, 10)
    gt[0, 2:6, 3:8] = 1
    gt[1, 5:, :4] = 1
    good = mask_supervised_loss((gt * 2 - 1) * 20, gt)
    bad = mask_supervised_loss(-(gt * 2 - 1) * 20, gt, dice_weight=1.0, bce_weight=2.0)
    assert set(good) == {"loss_mask_dice", "loss_mask_bce"}
    assert good["loss_mask_dice"] < 1e-4 and good["loss_mask_bce"] < 1e-4
    assert bad["loss_mask_dice"] > 0.99 and bad["loss_mask_bce"] > 10
    empty = torch.zeros(0, 10, 10, requires_grad=True)
    zeros = mask_supervised_loss(empty, torch.zeros(0, 10, 10))
    assert sum(zeros.values()).item() == 0 and sum(zeros.values()).requires_grad
    with pytest.raises(ValueError, match="must match"):
        mask_supervised_loss(torch.zeros(2, 10, 10), gt[:, :5])


def _image_term_only(**kw):
    return BoxSupervisedMaskLoss(
        projection_weight=0.0,
        levelset_image_weight=1.0,
        levelset_feature_weight=0.0,
        lcm_weight=0.0,
        min_box_pixels=1,
        **kw,
    )


def test_margin_as_background_breaks_the_swap_symmetry():
    """A bright disc in a box on a dark background: the tight-box energy cannot tell the disc
    from its inverse (the box corners); with the margin's pixels clamped to background the
    inverse costs more, and a loss over a margin without clamping does not prefer it either."""
    size = 32
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    disc = (yy - 16) ** 2 + (xx - 16) ** 2 <= 6**2
    image = disc.float()[None, None].repeat(1, 3, 1, 1)
    box = torch.tensor([[10.0, 10.0, 22.0, 22.0]])
    _, box_mask = boxes_to_mask_grid(box, size, size)
    logits = {
        "object": torch.where(disc, 8.0, -8.0),
        "inverse": torch.where(disc, -8.0, 8.0) * box_mask[0] - 8.0 * (1 - box_mask[0]),
    }

    def energy(loss, which):
        out = loss(logits[which][None], box, torch.zeros(1, dtype=torch.long), image)
        return out["loss_levelset"].item()

    tight = _image_term_only()
    assert energy(tight, "object") == pytest.approx(energy(tight, "inverse"), abs=1e-3)
    clamped = _image_term_only(levelset_margin=3, margin_is_background=True)
    assert energy(clamped, "object") < 0.01 < energy(clamped, "inverse")


def test_outside_term_penalises_mask_in_the_margin_ring():
    box = torch.tensor([[8.0, 8.0, 24.0, 24.0]])
    inside = torch.full((1, 32, 32), -8.0)
    inside[:, 8:24, 8:24] = 8.0
    spilled = torch.full((1, 32, 32), 8.0)
    loss = _image_term_only(levelset_margin=2, outside_weight=1.0)
    image = torch.zeros(1, 3, 32, 32)
    index = torch.zeros(1, dtype=torch.long)
    assert loss(inside, box, index, image)["loss_outside"].item() < 1e-3
    assert loss(spilled, box, index, image)["loss_outside"].item() > 7.0


def test_levelset_warmup_ramps_the_level_set_terms():
    from detectron2.utils.events import EventStorage

    image, box, disc = _toy_disc()
    logits = torch.zeros(1, 64, 64)
    index = torch.zeros(1, dtype=torch.long)
    loss = BoxSupervisedMaskLoss(levelset_warmup_iters=100, lcm_weight=0.2)
    full = loss(logits, box, index, image)["loss_levelset"].item()
    assert full > 0  # outside a trainer (no EventStorage): no ramp
    for it, factor in ((0, 0.0), (50, 0.5), (200, 1.0)):
        with EventStorage(it):
            out = loss(logits, box, index, image)
        assert out["loss_levelset"].item() == pytest.approx(factor * full, rel=1e-5)


def test_outside_term_without_a_ring_is_refused():
    with pytest.raises(ValueError, match="LEVELSET_MARGIN > 0"):
        BoxSupervisedMaskLoss(levelset_margin=0, outside_weight=1.0)


def test_image_blur_makes_a_striped_object_cheaper_than_its_stripes():
    """A disc of bright stripes alternating with background-coloured ones: on the raw image the
    bright stripes alone are the cheaper phase (the energy follows the texture); on the image
    blurred at the stripes' scale the whole disc is."""
    size = 40
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 <= 10**2
    stripes = disc & ((xx.long() // 2) % 2 == 0)
    image = stripes.float()[None, None].repeat(1, 3, 1, 1)
    box = torch.tensor([[10.0, 10.0, 30.0, 30.0]])
    index = torch.zeros(1, dtype=torch.long)

    def energy(loss, mask):
        logits = torch.where(mask, 8.0, -8.0)[None]
        return loss(logits, box, index, image)["loss_levelset"].item()

    raw = _image_term_only(levelset_margin=2, margin_is_background=True)
    assert energy(raw, stripes) < energy(raw, disc)
    blurred = _image_term_only(levelset_margin=2, margin_is_background=True, levelset_image_blur=1.5)
    assert energy(blurred, disc) < energy(blurred, stripes)


def test_image_blur_keeps_constant_images_and_tiny_maps():
    from box2mask.losses.box_supervised import _gaussian_blur

    flat = torch.full((2, 3, 5, 7), 0.3)
    torch.testing.assert_close(_gaussian_blur(flat, 2.0), flat)
    one = torch.randn(1, 3, 1, 1)
    torch.testing.assert_close(_gaussian_blur(one, 1.0), one)
    with pytest.raises(ValueError, match="LEVELSET_IMAGE_BLUR"):
        BoxSupervisedMaskLoss(levelset_image_blur=-1.0)


def test_far_outside_term_penalises_mask_beyond_the_ring_only():
    box = torch.tensor([[8.0, 8.0, 16.0, 16.0]])
    index = torch.zeros(1, dtype=torch.long)
    image = torch.zeros(1, 3, 32, 32)
    loss = _image_term_only(levelset_margin=2, far_outside_weight=1.0)
    on_ring = torch.full((1, 32, 32), -8.0)
    on_ring[:, 6:18, 6:18] = 8.0  # the box and its 2-pixel ring
    far = on_ring.clone()
    far[:, 24:, 24:] = 8.0  # another object's place, beyond the ring
    assert set(loss(on_ring, box, index, image)) == KEYS | {"loss_far_outside"}
    assert loss(on_ring, box, index, image)["loss_far_outside"].item() < 1e-3
    assert loss(far, box, index, image)["loss_far_outside"].item() > 0.5
    tight = _image_term_only(far_outside_weight=1.0)  # no ring: everything outside the box
    assert tight(on_ring, box, index, image)["loss_far_outside"].item() > 0.5


def test_pairwise_term_prefers_the_colour_edge_and_follows_the_input_format():
    """The pairwise term costs less for a mask cut along a colour edge than across a flat
    colour, equals BoxInst's pairwise loss on the box, and reads BGR input as BGR."""
    mean = torch.tensor([123.675, 116.28, 103.53])
    std = torch.tensor([58.395, 57.12, 57.375])
    rgb = torch.zeros(1, 3, 32, 32)
    rgb[:, 0, :, :16] = 220.0  # red left half, black right half
    images = (rgb - mean[:, None, None]) / std[:, None, None]
    box = torch.tensor([[4.0, 4.0, 28.0, 28.0]])
    index = torch.zeros(1, dtype=torch.long)
    loss = _image_term_only(pairwise_weight=2.0)
    along = torch.full((1, 32, 32), -6.0)
    along[:, :, :16] = 6.0
    across = torch.full((1, 32, 32), -6.0)
    across[:, :, :8] = 6.0
    out = loss(along, box, index, images)
    assert set(out) == KEYS | {"loss_pairwise"}
    assert out["loss_pairwise"].item() < 0.1
    assert loss(across, box, index, images)["loss_pairwise"].item() > 0.1

    _, box_mask = boxes_to_mask_grid(box, 32, 32)
    lab = lab_from_loss_images(images, mean.view(3, 1, 1), std.view(3, 1, 1), False)
    similarity = color_similarity(lab)
    torch.testing.assert_close(
        loss(across, box, index, images)["loss_pairwise"],
        2.0 * boxinst_pairwise_loss(across, similarity, box_mask),
    )
    bgr = _image_term_only(
        pairwise_weight=2.0,
        input_format="BGR",
        image_mean=mean.flip(0).tolist(),
        image_std=std.flip(0).tolist(),
    )
    torch.testing.assert_close(
        bgr(across, box, index, images.flip(1))["loss_pairwise"],
        loss(across, box, index, images)["loss_pairwise"],
    )
    with pytest.raises(ValueError, match="INPUT.FORMAT"):
        BoxSupervisedMaskLoss(input_format="YUV")
