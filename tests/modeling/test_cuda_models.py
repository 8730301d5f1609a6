"""The demo models on CUDA against the CPU: one training step and one inference, same weights
and inputs.

Training: every loss within rtol 1e-3 (atol 1e-5), the gradient norm of every parameter tensor
within rtol 5e-2 (atol 1e-3 of the largest): rounding alone moves them that far, as the same
Box2Mask-C step in float32 against float64 on the CPU differs by up to 0.8 % in the backbone's
gradient norms while its losses agree to 3e-6. Inference: with every candidate kept (score
thresholds 0, no top-k cut, so that near-tied scores cannot swap an instance in or out), the
per-class count of masks covering each pixel agrees: Σ min / Σ max ≥ 0.99 (the IoU of the mask
sets, whatever their order). TF32 is off for the comparison.

Marked ``cuda``; skipped with "no CUDA device" where there is none.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from box2mask import add_box2mask_config
from box2mask.data.synthetic import render_sample, sample_rng

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "c": ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml",
    "t": ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml",
}
SIZE = 128  # tiny synthetic images (the demo's are 320)


@pytest.fixture(autouse=True)
def _no_tf32():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def demo_cfg(model: str, device: str):
    """The demo config with random weights on ``device``; inference keeps every candidate."""
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(CONFIGS[model]))
    cfg.MODEL.EFFICIENTNET.PRETRAINED = False
    cfg.MODEL.DEVICE = device
    c = cfg.MODEL.BOX2MASK_C
    c.SCORE_THRESH = c.UPDATE_THRESH = 0.0
    c.NMS_PRE = cfg.TEST.DETECTIONS_PER_IMAGE = 100_000
    return cfg


def synthetic_image(split: str, index: int):
    """One synthetic image [3, S, S] float (RGB 0-255) and its annotated boxes and classes."""
    sample = render_sample(sample_rng(0, split, index), SIZE)
    annotated = [x for x in sample.instances if x.annotated]
    image = torch.from_numpy(np.ascontiguousarray(sample.image.transpose(2, 0, 1))).float()
    boxes = torch.tensor([x.full_box for x in annotated], dtype=torch.float32).reshape(-1, 4)
    classes = torch.tensor([x.category_id - 1 for x in annotated], dtype=torch.long)
    return image, boxes, classes


def training_batch():
    """Two synthetic images with their boxes (box supervision: no masks)."""
    batch = []
    for i in range(2):
        image, boxes, classes = synthetic_image("train", i)
        inst = Instances((SIZE, SIZE), gt_boxes=Boxes(boxes), gt_classes=classes)
        batch.append({"image": image, "instances": inst, "height": SIZE, "width": SIZE})
    return batch


def build_pair(model: str):
    """The model on the CPU (seed 0) and a copy of it on CUDA."""
    torch.manual_seed(0)
    cpu = build_model(demo_cfg(model, "cpu"))
    gpu = build_model(demo_cfg(model, "cuda"))
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu


def train_step(model, batch):
    """Losses (floats) and the gradient norm of every parameter tensor, in parameter order."""
    model.train()
    losses = model(batch)
    model.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    norms = [
        p.grad.norm().item() if p.grad is not None else 0.0
        for p in model.parameters()
        if p.requires_grad
    ]
    return {k: v.item() for k, v in losses.items()}, torch.tensor(norms, dtype=torch.float64)


def coverage(instances, num_classes: int):
    """[K, H, W] number of predicted masks of each class covering each pixel."""
    masks = instances.pred_masks.cpu().to(torch.int64)
    counts = torch.zeros(num_classes, *masks.shape[1:], dtype=torch.int64)
    return counts.index_add_(0, instances.pred_classes.cpu(), masks)


@pytest.mark.parametrize("model", ["c", "t"])
def test_training_step_matches_cpu(model):
    cpu, gpu = build_pair(model)
    batch = training_batch()
    losses_cpu, norms_cpu = train_step(cpu, batch)
    losses_gpu, norms_gpu = train_step(gpu, batch)
    assert set(losses_gpu) == set(losses_cpu)
    for name, value in losses_cpu.items():
        assert losses_gpu[name] == pytest.approx(value, rel=1e-3, abs=1e-5), name
    assert norms_cpu.max() > 0
    torch.testing.assert_close(norms_gpu, norms_cpu, rtol=5e-2, atol=1e-3 * norms_cpu.max())


@pytest.mark.parametrize("model", ["c", "t"])
def test_inference_masks_match_cpu(model):
    cpu, gpu = build_pair(model)
    image, _, _ = synthetic_image("val", 0)
    inputs = [{"image": image, "height": SIZE, "width": SIZE}]
    cpu.eval()
    gpu.eval()
    with torch.no_grad():
        out_cpu = cpu(inputs)[0]["instances"]
        out_gpu = gpu(inputs)[0]["instances"]
    assert out_gpu.pred_masks.device.type == "cuda"
    num_classes = demo_cfg(model, "cpu").MODEL.BOX2MASK.NUM_CLASSES
    cov_cpu, cov_gpu = coverage(out_cpu, num_classes), coverage(out_gpu, num_classes)
    assert cov_cpu.sum() > 0, "no predicted mask pixel on the CPU: nothing to compare"
    similarity = torch.minimum(cov_cpu, cov_gpu).sum() / torch.maximum(cov_cpu, cov_gpu).sum()
    assert similarity >= 0.99, f"mask IoU {similarity:.4f} ({len(out_cpu)} / {len(out_gpu)} inst.)"
