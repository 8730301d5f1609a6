"""Fuzzing both criteria (through the models' training forward) over random targets, and the
level-set, tree-filter and evolution ops over random shapes and degenerate boxes: finite
values and finite gradients, or the documented error."""
import pytest
import torch
from detectron2.modeling import build_model
from hypothesis import given
from hypothesis import strategies as st

from box2mask.ops import evolve_levelset, region_levelset_energy, tree_filter

from .box2mask_c.test_meta_arch import make_input
from tiny_model import tiny_c_cfg
from .box2mask_t.conftest import make_tiny_cfg as tiny_t_cfg

H, W = 64, 96
# boxes in input pixels: 1-pixel, image-sized, on the border, partly outside (clipped)
CORNER = st.tuples(st.floats(-10, W + 10), st.floats(-10, H + 10))


@st.composite
def targets(draw, num_classes):
    """Per image: up to 12 boxes (x0, y0, x1, y1) clipped to the image, kept with positive area,
    and their classes; some images have none."""
    images = []
    for _ in range(draw(st.integers(1, 2))):
        boxes, classes = [], []
        for _ in range(draw(st.integers(0, 12))):
            (xa, ya), (xb, yb) = draw(CORNER), draw(CORNER)
            x0, x1 = sorted((min(max(xa, 0), W), min(max(xb, 0), W)))
            y0, y1 = sorted((min(max(ya, 0), H), min(max(yb, 0), H)))
            if draw(st.booleans()):  # a tiny box
                x1, y1 = min(x0 + 1, W), min(y0 + 1, H)
            if x1 - x0 > 0 and y1 - y0 > 0:
                boxes.append([x0, y0, x1, y1])
                classes.append(draw(st.integers(0, num_classes - 1)))
        images.append((boxes, classes))
    return images


MODELS = {}


def _model(name, num_classes):
    key = (name, num_classes)
    if key not in MODELS:
        torch.manual_seed(0)
        cfg = tiny_c_cfg() if name == "c" else tiny_t_cfg()
        cfg.MODEL.BOX2MASK.NUM_CLASSES = num_classes
        MODELS[key] = build_model(cfg).train()
    return MODELS[key]


@pytest.mark.parametrize("name", ["c", "t"])
@given(data=st.data())
def test_criteria_give_finite_losses_and_gradients(name, data):
    num_classes = data.draw(st.sampled_from([1, 3]))
    model = _model(name, num_classes)
    batch = [make_input(boxes, classes, seed=i)
             for i, (boxes, classes) in enumerate(data.draw(targets(num_classes)))]
    model.zero_grad()
    losses = model(batch)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


INT_BOX = st.tuples(st.integers(-5, 40), st.integers(-5, 40), st.integers(-5, 40),
                    st.integers(-5, 40))


@given(h=st.integers(1, 24), w=st.integers(1, 24), c=st.integers(1, 3),
       boxes=st.lists(INT_BOX, min_size=0, max_size=6))
def test_levelset_energy_over_random_shapes_and_boxes(h, w, c, boxes):
    n = len(boxes)
    probs = torch.rand(n, h, w, requires_grad=True)
    image = torch.rand(1, c, h, w, requires_grad=True)
    box_tensor = torch.tensor(boxes, dtype=torch.long).reshape(n, 4)
    try:
        energy = region_levelset_energy(probs, image, box_tensor, torch.zeros(n, dtype=torch.long))
    except ValueError as e:  # documented: malformed boxes name the argument
        assert "boxes" in str(e)
        return
    assert energy.shape == (n,) and torch.isfinite(energy).all()
    energy.sum().backward()
    assert torch.isfinite(probs.grad).all() and torch.isfinite(image.grad).all()


@given(h=st.integers(1, 20), w=st.integers(1, 20), n=st.integers(0, 3), c=st.integers(1, 3))
def test_tree_filter_over_random_shapes(h, w, n, c):
    x = torch.rand(n, c, h, w, requires_grad=True)
    guide = torch.rand(1, 3, h, w)
    out, _ = tree_filter(x, guide, 0.02, torch.zeros(n, dtype=torch.long))
    assert out.shape == x.shape and torch.isfinite(out).all()
    if n:
        out.sum().backward()
        assert torch.isfinite(x.grad).all()


@given(h=st.integers(1, 30), w=st.integers(1, 30),
       boxes=st.lists(st.tuples(*[st.floats(-10, 40)] * 4), max_size=4))
def test_evolution_over_random_shapes_and_degenerate_boxes(h, w, boxes):
    image = torch.rand(3, h, w) * 255
    box_tensor = torch.tensor(boxes, dtype=torch.float32).reshape(len(boxes), 4)
    try:
        masks = evolve_levelset(image, box_tensor, steps=20, margin=2)
    except ValueError as e:
        assert "box" in str(e)
        return
    assert masks.shape == (len(boxes), h, w)
