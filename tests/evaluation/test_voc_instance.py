"""VOC instance AP against values computed by hand on three 10×10 images."""
import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Instances

from box2mask.data.testbeds import VOC_CLASSES
from box2mask.data.testbeds.common import categories, encode_mask
from box2mask.evaluation import VOCInstanceEvaluator
from box2mask.evaluation.voc_instance import mask_ious, voc_ap

AEROPLANE, BICYCLE, PERSON = 1, 2, 15  # json category ids (1-based VOC order)


def box_mask(rows, cols, size=10):
    m = np.zeros((size, size), bool)
    m[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = True
    return m


# image id → (ground truth [(class, mask)], void mask or None, predictions [(class, score, mask)])
EXAMPLE = {
    1: ([(AEROPLANE, box_mask((0, 4), (0, 4))), (BICYCLE, box_mask((5, 9), (5, 9)))],
        box_mask((5, 9), (2, 4)),
        [(AEROPLANE, 0.9, box_mask((0, 4), (0, 4))),  # exact
         (BICYCLE, 0.8, box_mask((5, 9), (2, 9)))]),  # exact once the void is left out
    2: ([(AEROPLANE, box_mask((0, 9), (0, 1)))],
        None,
        [(AEROPLANE, 0.7, box_mask((0, 9), (0, 2))),  # IoU 20/30
         (AEROPLANE, 0.95, box_mask((0, 9), (5, 9)))]),  # IoU 0
    3: ([(AEROPLANE, box_mask((0, 3), (0, 9))), (PERSON, box_mask((6, 9), (0, 9)))],
        None,
        [(AEROPLANE, 0.6, box_mask((0, 4), (0, 9))),  # IoU 40/50
         (AEROPLANE, 0.5, box_mask((0, 3), (0, 9)))]),  # duplicate of a matched instance
}


@pytest.fixture
def voc_example(tmp_path):
    images, annotations = [], []
    for image_id, (gts, void, _) in EXAMPLE.items():
        image = {"id": image_id, "file_name": f"{image_id}.jpg", "height": 10, "width": 10}
        if void is not None:
            image["void"] = encode_mask(void)
        images.append(image)
        for category, mask in gts:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": category, "segmentation": encode_mask(mask),
                                "area": float(mask.sum()), "bbox": [0, 0, 1, 1], "iscrowd": 0})
    path = tmp_path / "val.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories(VOC_CLASSES)}))
    name = "test_voc_instance_example"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(json_file=str(path))
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _outputs(image_id):
    predictions = EXAMPLE[image_id][2]
    instances = Instances((10, 10))
    instances.pred_masks = torch.tensor(np.stack([m for _, _, m in predictions]))
    instances.scores = torch.tensor([s for _, s, _ in predictions])
    instances.pred_classes = torch.tensor([c - 1 for c, _, _ in predictions])  # contiguous
    return [{"instances": instances}]


def test_voc_instance_ap_matches_hand_computed(voc_example):
    evaluator = VOCInstanceEvaluator(voc_example, distributed=False)
    evaluator.reset()
    for image_id in EXAMPLE:
        evaluator.process([{"image_id": image_id}], _outputs(image_id))
    results = evaluator.evaluate()["voc_segm"]
    # aeroplane, by score: 0.95 FP, 0.9 TP, 0.7 TP only below IoU 0.67, 0.6 TP, 0.5 FP (dup.)
    #   IoU 0.25 / 0.5: precision 0, 1/2, 2/3, 3/4, 3/5 at recall 0, 1/3, 2/3, 1, 1 -> AP 3/4
    #   IoU 0.7 / 0.75: precision 0, 1/2, 1/3, 1/2, 2/5 at recall 0, 1/3, 1/3, 2/3, 2/3 -> 1/3
    # bicycle: AP 1 (IoU 1 without the void, 25/40 with it); person: no detection, AP 0.
    # The 17 classes without ground truth are left out of the mean.
    assert results["AP25"] == pytest.approx(100 * (3 / 4 + 1 + 0) / 3)
    assert results["AP50"] == pytest.approx(100 * (3 / 4 + 1 + 0) / 3)
    assert results["AP70"] == pytest.approx(100 * (1 / 3 + 1 + 0) / 3)
    assert results["AP75"] == pytest.approx(100 * (1 / 3 + 1 + 0) / 3)
    assert results["AP50-aeroplane"] == pytest.approx(75)
    assert results["AP50-bicycle"] == pytest.approx(100)
    assert results["AP50-person"] == 0
    assert np.isnan(results["AP50-dog"])


def test_mask_ious_leave_void_out():
    pred = box_mask((5, 9), (2, 9))[None]
    gt = box_mask((5, 9), (5, 9))[None]
    assert mask_ious(pred, gt, np.zeros((10, 10), bool))[0, 0] == pytest.approx(25 / 40)
    assert mask_ious(pred, gt, box_mask((5, 9), (2, 4)))[0, 0] == pytest.approx(1.0)
    assert mask_ious(pred[:0], gt, np.zeros((10, 10), bool)).shape == (0, 1)


def test_voc_ap_of_a_perfect_and_an_empty_curve():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)
    assert voc_ap(np.array([]), np.array([])) == 0.0
