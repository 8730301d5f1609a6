"""tools/mask_threshold.py."""

import math
from pathlib import Path

import pytest
import torch

from tools import mask_threshold as sweep

ROOT = Path(__file__).resolve().parents[2]


def test_mask_threshold_override_per_model():
    key, value = sweep.threshold_override("Box2MaskT", 0.5)
    assert key == "MODEL.BOX2MASK_T.MASK_LOGIT_THRESHOLD" and value == pytest.approx(0.0)
    assert sweep.threshold_override("Box2MaskT", 0.7)[1] == pytest.approx(math.log(0.7 / 0.3))
    assert sweep.threshold_override("Box2MaskC", 0.7) == ["MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD", 0.7]
    with pytest.raises(ValueError, match="probability"):
        sweep.threshold_override("Box2MaskT", 1.0)


def test_mask_threshold_sweep_reaches_the_masks(coco_set, tmp_path):
    import json

    import pycocotools.mask as mask_util
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from box2mask import add_box2mask_config

    json_path, image_dir = coco_set
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml"))
    cfg.merge_from_list(["MODEL.EFFICIENTNET.PRETRAINED", "False", "MODEL.BOX2MASK.NUM_CLASSES",
                         "2", "INPUT.MIN_SIZE_TEST", "64", "DATALOADER.NUM_WORKERS", "0"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(cfg.dump())
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict()}, run / "model_final.pth")

    rows = sweep.main([str(run), "--dataset", "mt_set", "--thresholds", "0.3,0.9",
                       "--register-coco", "mt_set", str(json_path), str(image_dir)])
    assert [row[0] for row in rows] == [0.3, 0.9]
    areas = []
    for p in ("p0.30", "p0.90"):
        results = json.loads((run / "mask_threshold/mt_set" / p / "coco_instances_results.json")
                             .read_text())
        areas.append(sum(float(mask_util.area(r["segmentation"])) for r in results))
    assert areas[0] > areas[1]  # the same instances, thresholded higher
