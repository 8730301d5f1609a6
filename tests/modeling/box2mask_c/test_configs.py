"""Every Box2Mask-C yaml loads and builds a model that runs (CPU, no weight downloads)."""

import glob

import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from box2mask import add_box2mask_config
from box2mask.modeling import Box2MaskC

YAMLS = sorted(["configs/Base-Box2Mask-C.yaml"] + glob.glob("configs/*/box2mask_c_*.yaml"))


def load(path):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.EFFICIENTNET.PRETRAINED = False
    return cfg


def test_all_expected_yamls_present():
    expected = {
        "configs/coco/box2mask_c_R_50_3x.yaml",
        "configs/coco/box2mask_c_R_101_3x.yaml",
        "configs/voc/box2mask_c_R_50.yaml",
        "configs/voc/box2mask_c_R_101.yaml",
        "configs/isaid/box2mask_c_R_101.yaml",
        "configs/demo/box2mask_c_effnet_lite0.yaml",
    }
    assert expected <= set(YAMLS)


# A forward pass at paper size costs ~20 GFLOPs in the grid towers whatever the image size
# (Σ S² = 4352 cells × 4 convs × 256²): run it for one ResNet yaml and the demo only.
RUN = {"configs/coco/box2mask_c_R_50_3x.yaml", "configs/demo/box2mask_c_effnet_lite0.yaml"}


@pytest.mark.parametrize("path", YAMLS)
def test_yaml_builds_and_runs(path):
    cfg = load(path)
    assert cfg.INPUT.MASK_FORMAT == "bitmask"
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert isinstance(model, Box2MaskC)
    assert model.head.category_pred.out_channels == cfg.MODEL.BOX2MASK.NUM_CLASSES
    if path in RUN:
        with torch.no_grad():
            (out,) = model([{"image": torch.rand(3, 64, 96) * 255}])
        assert out["instances"].image_size == (64, 96)


def test_paper_settings():
    coco = load("configs/coco/box2mask_c_R_50_3x.yaml")
    assert coco.SOLVER.OPTIMIZER == "ADAMW" and coco.SOLVER.BASE_LR == 1e-4
    assert coco.SOLVER.WEIGHT_DECAY == 0.1 and coco.SOLVER.IMS_PER_BATCH == 16
    assert coco.SOLVER.MAX_ITER == 270000 and coco.SOLVER.WARMUP_ITERS == 2000
    assert coco.SOLVER.CLIP_GRADIENTS.ENABLED and coco.SOLVER.CLIP_GRADIENTS.CLIP_VALUE == 1.0
    assert min(coco.INPUT.MIN_SIZE_TRAIN) == 640 and max(coco.INPUT.MIN_SIZE_TRAIN) == 800
    assert coco.MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD == 0.55
    assert coco.MODEL.BOX2MASK_C.NUM_GRIDS == [40, 36, 24, 16, 12]
    model = build_model(coco)
    # P2 ×0.5, P3, P4, P5, P6 resized to P5 → strides 8, 8, 16, 32, 32.
    expected = [8.0] * 40**2 + [8.0] * 36**2 + [16.0] * 24**2 + [32.0] * 16**2 + [32.0] * 12**2
    assert model.cell_strides.tolist() == expected
    assert model.mask_stride == 4
    assert load("configs/voc/box2mask_c_R_101.yaml").MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD == 0.70
    assert load("configs/isaid/box2mask_c_R_101.yaml").MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD == 0.45
    demo = load("configs/demo/box2mask_c_effnet_lite0.yaml")
    assert demo.DATASETS.TRAIN == ("synthetic_train",) and demo.INPUT.FORMAT == "RGB"
