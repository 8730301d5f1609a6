import json
import os

import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest
from hypothesis import HealthCheck, settings


def write_coco_set(root, with_masks=True):
    """Three small images: two instances; degenerate + partly-outside boxes; none.

    Returns (json_path, image_dir).
    """
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, annotations = [], []

    def add(image_id, bbox, cat, mask=None):
        ann = {"id": len(annotations) + 1, "image_id": image_id, "bbox": bbox,
               "category_id": cat, "iscrowd": 0, "area": float(bbox[2] * bbox[3])}
        if with_masks and mask is not None:
            rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            ann["segmentation"] = rle
        annotations.append(ann)

    h, w = 64, 80
    for image_id in (1, 2, 3):
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        name = f"{image_id:03d}.png"
        cv2.imwrite(str(image_dir / name), image)
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
    m = np.zeros((h, w), bool)
    m[10:30, 5:25] = True
    add(1, [5, 10, 20, 20], 1, m)
    m2 = np.zeros((h, w), bool)
    m2[35:60, 40:70] = True
    add(1, [40, 35, 30, 25], 2, m2)
    add(2, [10, 10, 0, 15], 1, m)  # zero width: dropped
    m3 = np.zeros((h, w), bool)
    m3[50:64, 60:80] = True
    add(2, [60, 50, 40, 30], 2, m3)  # partly outside: clipped
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories}))
    return path, image_dir


@pytest.fixture
def coco_set(tmp_path):
    return write_coco_set(tmp_path)


# hypothesis: a few examples per fuzz test by default; HYPOTHESIS_PROFILE=slow runs many more.
settings.register_profile("default", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("slow", parent=settings.get_profile("default"), max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
