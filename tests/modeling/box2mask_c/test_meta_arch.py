"""Box2Mask-C end to end on tiny CPU inputs: training steps, edge cases, inference."""

import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances, PolygonMasks

from tiny_model import tiny_c_cfg

H, W = 64, 96


def make_input(boxes, classes, h=H, w=W, seed=0, masks=None):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(3, h, w, generator=g) * 255
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.long)
    if masks is not None:
        inst.gt_masks = masks
    return {"image": image, "instances": inst, "height": h, "width": w}


def boxes_masks(boxes, h=H, w=W):
    m = torch.zeros((len(boxes), h, w), dtype=torch.bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        m[i, int(y0) : int(y1), int(x0) : int(x1)] = True
    return BitMasks(m)


def _finite(losses):
    return all(torch.isfinite(v).all() for v in losses.values())


def test_forward_backward_reduces_loss():
    torch.manual_seed(0)
    model = build_model(tiny_c_cfg())
    model.train()
    batch = [
        make_input([[10, 8, 40, 50], [50, 20, 90, 60]], [0, 2], seed=1),
        make_input([[20, 10, 70, 40]], [1], seed=2),
    ]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    totals, projections = [], []
    for _ in range(8):
        losses = model(batch)
        keys = {"loss_cls", "loss_mask_proj", "loss_levelset", "loss_lcm", "loss_outside",
                "loss_far_outside"}
        assert set(losses) == keys
        assert _finite(losses)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
        projections.append(losses["loss_mask_proj"].item())
    assert totals[-1] < 0.8 * totals[0], totals
    assert projections[-1] < projections[0], projections


@pytest.mark.parametrize(
    "boxes,classes,num_classes",
    [
        ([], [], 3),  # no instances
        ([[30, 20, 32, 22]], [0], 1),  # single class, a 2 × 2 box
        ([[0, 0, W, H]], [0], 1),  # image-filling box
        ([[0, 0, W, H], [40, 30, 41, 31], [0, 0, 5, 64]], [0, 0, 0], 1),  # mixed + tiny
    ],
)
def test_edge_cases_train_without_nan(boxes, classes, num_classes):
    torch.manual_seed(0)
    model = build_model(tiny_c_cfg(**{"MODEL.BOX2MASK.NUM_CLASSES": num_classes}))
    model.train()
    batch = [make_input(boxes, classes), make_input([], [], seed=3)]
    losses = model(batch)
    assert _finite(losses)
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name


class _Poison:
    """gt_masks that fail on any use: box supervision must never read them."""

    def __len__(self):
        return 1

    def __getattr__(self, name):
        raise AssertionError(f"box supervision read gt_masks.{name}")


def test_box_supervision_never_reads_masks():
    model = build_model(tiny_c_cfg())
    model.train()
    losses = model([make_input([[10, 8, 40, 50]], [0], masks=_Poison())])
    assert _finite(losses)


@pytest.mark.parametrize("kind", ["bitmask", "polygon", "empty"])
def test_mask_supervision(kind):
    torch.manual_seed(0)
    model = build_model(tiny_c_cfg(**{"MODEL.BOX2MASK.SUPERVISION": "mask"}))
    model.train()
    boxes = [] if kind == "empty" else [[10, 8, 40, 50], [50, 20, 90, 60]]
    if kind == "polygon":
        masks = PolygonMasks([[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes])
    else:
        masks = boxes_masks(boxes)
    batch = [make_input(boxes, [0, 1][: len(boxes)], masks=masks)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(1 if kind == "empty" else 5):
        losses = model(batch)
        assert set(losses) == {"loss_cls", "loss_mask_dice", "loss_mask_bce"}
        assert _finite(losses)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        first = total.item() if first is None else first
    assert total.item() <= first


def test_inference_blank_image_empty_instances():
    model = build_model(tiny_c_cfg())
    model.eval()
    blank = {"image": torch.zeros(3, H, W), "height": 2 * H, "width": 2 * W}
    with torch.no_grad():
        (out,) = model([blank])
    inst = out["instances"]
    assert len(inst) == 0 and inst.image_size == (2 * H, 2 * W)
    assert inst.pred_masks.shape == (0, 2 * H, 2 * W) and inst.pred_masks.dtype == torch.bool
    assert inst.pred_boxes.tensor.shape == (0, 4)
    assert inst.scores.shape == (0,) and inst.pred_classes.shape == (0,)


def test_inference_fields_and_sizes():
    """Lowered thresholds so that random weights yield detections; check sizes and types."""
    model = build_model(
        tiny_c_cfg(
            **{
                "MODEL.BOX2MASK_C.SCORE_THRESH": 0.0,
                "MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD": 0.3,
                "MODEL.BOX2MASK_C.UPDATE_THRESH": 0.0,
                "TEST.DETECTIONS_PER_IMAGE": 7,
            }
        )
    )
    model.eval()
    with torch.no_grad():
        model.head.category_pred.bias.fill_(0.0)
    inputs = [
        {"image": torch.rand(3, 50, 90) * 255, "height": 100, "width": 180},
        {"image": torch.rand(3, 64, 70) * 255},
    ]
    with torch.no_grad():
        outs = model(inputs)
    for out, size in zip(outs, [(100, 180), (64, 70)]):
        inst = out["instances"]
        assert inst.image_size == size and 0 < len(inst) <= 7
        assert inst.pred_masks.shape[1:] == size and inst.pred_masks.dtype == torch.bool
        assert inst.pred_classes.dtype == torch.long
        assert (inst.scores[:-1] >= inst.scores[1:]).all()
