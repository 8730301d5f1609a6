import torch
import torch.nn.functional as F
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances, PolygonMasks

from box2mask.modeling.box2mask_t.criterion import BoxSupervisedTerm, MaskSupervisedTerm
from box2mask.modeling.box2mask_t.meta_arch import instance_inference

from .conftest import NUM_CLASSES, make_tiny_cfg


def _input(h, w, boxes, classes, masks=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.long)
    if masks is not None:
        inst.gt_masks = masks
    image = torch.randint(0, 255, (3, h, w), dtype=torch.uint8, generator=g)
    return {"image": image, "instances": inst}


def _total(losses):
    assert all(torch.isfinite(v) for v in losses.values()), losses
    return sum(losses.values())


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    cfg = make_tiny_cfg()
    model = build_model(cfg)
    model.train()
    assert isinstance(model.criterion.mask_term, BoxSupervisedTerm)
    batch = [
        _input(70, 90, [[5, 6, 40, 50], [50, 10, 85, 60]], [0, 2]),
        _input(64, 48, [[10, 12, 30, 40]], [1], seed=1),
    ]
    losses = model(batch)
    n_layers = cfg.MODEL.BOX2MASK_T.DEC_LAYERS
    for key in ("loss_cls", "loss_mask_proj", "loss_levelset", "loss_lcm"):
        assert key in losses
        assert all(f"{key}_{i}" in losses for i in range(n_layers))
    assert f"loss_cls_{n_layers}" not in losses
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = _total(losses).detach()
    for _ in range(5):
        optim.zero_grad()
        loss = _total(model(batch))
        loss.backward()
        optim.step()
    assert _total(model(batch)).item() < first.item()
    # the guide head F is part of the model (trained through the tree filter at merge)
    assert any(n.startswith("criterion.mask_term.guide_head") for n, _ in model.named_parameters())


def test_images_without_instances():
    torch.manual_seed(0)
    model = build_model(make_tiny_cfg())
    model.train()
    batch = [_input(64, 64, [], []), _input(40, 72, [], [], seed=1)]
    losses = model(batch)
    loss = _total(losses)
    assert float(losses["loss_mask_proj"]) == 0
    loss.backward()
    assert model.transformer_decoder.class_embed.weight.grad.abs().sum() > 0
    # mixed batch: one image with, one without instances
    losses = model([_input(64, 64, [[3, 4, 30, 30]], [2]), _input(64, 64, [], [])])
    _total(losses).backward()


def test_inference_blank_image_and_output_size():
    torch.manual_seed(0)
    model = build_model(make_tiny_cfg())
    model.eval()
    with torch.no_grad():
        out = model(
            [
                {"image": torch.zeros(3, 70, 90, dtype=torch.uint8), "height": 140, "width": 180},
                {"image": torch.full((3, 50, 37), 255, dtype=torch.uint8)},
            ]
        )
    assert len(out) == 2
    for result, size in zip(out, [(140, 180), (50, 37)]):
        inst = result["instances"]
        assert inst.image_size == size
        k = len(inst)
        assert k == 10  # TEST.DETECTIONS_PER_IMAGE
        assert inst.pred_masks.dtype == torch.bool and inst.pred_masks.shape == (k, *size)
        assert ((inst.scores >= 0) & (inst.scores <= 1)).all()
        assert ((inst.pred_classes >= 0) & (inst.pred_classes < NUM_CLASSES)).all()
        boxes = inst.pred_boxes.tensor
        assert boxes.shape == (k, 4)
        assert (boxes[:, 2] <= size[1]).all() and (boxes[:, 3] <= size[0]).all()


def test_instance_inference_crops_padding():
    # one query, one class; its mask is positive only inside the padding region
    logits = torch.tensor([[5.0, -5.0]])
    masks = torch.full((1, 8, 8), -10.0)
    masks[0, :, 6:] = 10.0  # columns 24..31 of the padded 32×32 input
    inst = instance_inference(logits, masks, (32, 20), (32, 20), padded_size=(32, 32), topk=5)
    assert len(inst) == 1
    assert not inst.pred_masks.any()  # the padding is cropped away
    assert float(inst.scores[0]) == 0.0  # maskness of an empty mask


def test_mask_supervision_path():
    torch.manual_seed(0)
    cfg = make_tiny_cfg("mask")
    model = build_model(cfg)
    model.train()
    assert isinstance(model.criterion.mask_term, MaskSupervisedTerm)
    m = torch.zeros(2, 70, 90, dtype=torch.bool)
    m[0, 10:40, 5:30] = True
    m[1, 20:60, 50:80] = True
    poly = PolygonMasks([[[10.0, 10, 30, 10, 30, 30, 10, 30]]])
    batch = [
        _input(70, 90, [[5, 10, 30, 40], [50, 20, 80, 60]], [0, 1], masks=BitMasks(m)),
        _input(48, 64, [[10, 10, 30, 30]], [2], masks=poly, seed=1),
    ]
    losses = model(batch)
    assert "loss_mask_dice" in losses and "loss_mask_bce" in losses
    assert "loss_mask_proj" not in losses
    _total(losses).backward()


def test_resample_to_output_matches_two_step_resize_on_smooth_input():
    from box2mask.modeling.mask_postprocess import resample_to_output

    # a linear ramp is reproduced exactly by bilinear sampling (away from the border)
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(24.0), indexing="ij")
    masks = (2 * xx + yy)[None]  # [1, 16, 24] over a padded 64×96 input (stride 4)
    out = resample_to_output(masks, (60, 80), (30, 40), (64, 96))
    assert out.shape == (1, 30, 40)
    two_step = F.interpolate(masks[None], size=(64, 96), mode="bilinear", align_corners=False)
    two_step = F.interpolate(
        two_step[:, :, :60, :80], size=(30, 40), mode="bilinear", align_corners=False
    )[0]
    assert torch.allclose(out[:, 2:-2, 2:-2], two_step[:, 2:-2, 2:-2], atol=1e-4)
