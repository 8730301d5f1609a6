"""iSAID mask AP on hand-made predictions: the devkit's area ranges and 1000 detections."""
import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances

from box2mask.data.testbeds import ISAID_CLASSES
from box2mask.data.testbeds.common import categories, encode_mask
from box2mask.evaluation import ISAIDEvaluator

SIZE = 600


def box_mask(x0, y0, w, h):
    m = np.zeros((SIZE, SIZE), bool)
    m[y0:y0 + h, x0:x0 + w] = True
    return m


# ground truth per image: (category id, mask)
GROUND_TRUTH = {
    1: [(1, box_mask(10, 10, 20, 20)),  # small: 400 px (COCO: small too)
        (2, box_mask(100, 100, 200, 200)),  # medium: 40,000 px (COCO: large)
        (3, box_mask(20, 20, 560, 560))],  # large: 313,600 px
    2: [(4, box_mask(300, 300, 40, 40))],
}


@pytest.fixture
def isaid_example(tmp_path):
    images = [{"id": i, "file_name": f"P{i:04d}.png", "height": SIZE, "width": SIZE}
              for i in GROUND_TRUTH]
    annotations = [
        {"id": k, "image_id": i, "category_id": c, "segmentation": encode_mask(m),
         "area": float(m.sum()), "bbox": [0, 0, 1, 1], "iscrowd": 0}
        for k, (i, (c, m)) in enumerate(
            ((i, g) for i, gts in GROUND_TRUTH.items() for g in gts), 1)
    ]
    path = tmp_path / "val.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories(ISAID_CLASSES)}))
    name = "test_isaid_example"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(json_file=str(path))
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _instances(predictions):
    """Instances of [(category id, score, mask)]."""
    masks = torch.tensor(np.stack([m for _, _, m in predictions]))
    instances = Instances((SIZE, SIZE))
    instances.pred_masks = masks
    instances.scores = torch.tensor([s for _, s, _ in predictions], dtype=torch.float32)
    instances.pred_classes = torch.tensor([c - 1 for c, _, _ in predictions])
    ys, xs = torch.arange(SIZE), torch.arange(SIZE)
    boxes = [[xs[m.any(0)].min(), ys[m.any(1)].min(), xs[m.any(0)].max() + 1,
              ys[m.any(1)].max() + 1] for m in masks]
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    return instances


def test_isaid_area_ranges(isaid_example, tmp_path):
    evaluator = ISAIDEvaluator(isaid_example, distributed=False, output_dir=str(tmp_path / "o"))
    evaluator.reset()
    # exact small, exact large, a medium one of IoU 40,000 / 50,000 = 0.8 (a true positive at
    # IoU 0.50 ... 0.80, 7 of the 10 thresholds); image 2 exact.
    evaluator.process([{"image_id": 1}], [{"instances": _instances([
        (1, 0.9, box_mask(10, 10, 20, 20)),
        (2, 0.8, box_mask(100, 100, 200, 250)),
        (3, 0.7, box_mask(20, 20, 560, 560))])}])
    evaluator.process([{"image_id": 2}], [{"instances": _instances([
        (4, 0.9, box_mask(300, 300, 40, 40))])}])
    segm = evaluator.evaluate()["segm"]
    assert segm["AP"] == pytest.approx(100 * (1 + 0.7 + 1 + 1) / 4)
    assert segm["AP50"] == pytest.approx(100)
    assert segm["AP75"] == pytest.approx(100)
    assert segm["APs"] == pytest.approx(100)
    # COCO's ranges would put the 40,000-pixel instance among the large ones.
    assert segm["APm"] == pytest.approx(70)
    assert segm["APl"] == pytest.approx(100)
    saved = json.loads((tmp_path / "o" / "isaid_instances_results.json").read_text())
    assert sorted(r["category_id"] for r in saved) == [1, 2, 3, 4]


def test_isaid_counts_up_to_1000_detections(isaid_example):
    # Image 2: 150 higher-scored false positives before its one true positive, found within
    # 1000 detections (COCO's 100 would miss it): precision 1/151 at every recall.
    false_positives = [(4, 0.99 - i * 1e-4, box_mask(0, 0, 10, 10)) for i in range(150)]
    evaluator = ISAIDEvaluator(isaid_example, distributed=False)
    evaluator.reset()
    evaluator.process([{"image_id": 1}], [{"instances": _instances(
        [(c, 0.9, m) for c, m in GROUND_TRUTH[1]])}])
    evaluator.process([{"image_id": 2}], [{"instances": _instances(
        false_positives + [(4, 0.5, box_mask(300, 300, 40, 40))])}])
    segm = evaluator.evaluate()["segm"]
    assert segm["AP"] == pytest.approx(100 * (3 + 1 / 151) / 4)


def test_isaid_without_predictions(isaid_example):
    evaluator = ISAIDEvaluator(isaid_example, distributed=False)
    evaluator.reset()
    assert evaluator.evaluate()["segm"]["AP"] == 0.0
