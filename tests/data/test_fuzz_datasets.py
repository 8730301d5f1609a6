"""Fuzzing the json check, registration and the training mapper over random COCO dicts: each
either loads (finite boxes of positive size inside their image, mapped to finite gt_boxes) or
raises ValueError naming the file."""
import json
import math
import uuid

import cv2
import numpy as np
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from hypothesis import event, given
from hypothesis import strategies as st

from box2mask import BoxSupervisedDatasetMapper, add_box2mask_config, register_box_coco
from box2mask.data import check_coco_json

NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-10**9, 10**9),
    st.sampled_from([0, 1, -1, 1e12, 0.5]),
)
VALUE = st.one_of(NUMBER, st.none(), st.text(max_size=3), st.booleans())
SIZES = st.one_of(st.sampled_from([(1, 1), (16, 2000), (2000, 16), (7, 5)]),
                  st.tuples(st.integers(1, 64), st.integers(1, 64)))


FAULTS = ["duplicate image id", "bad image size", "bad box", "duplicate annotation id",
          "unlisted image", "unlisted category"]


@st.composite
def coco_dicts(draw):
    """A COCO dict with 1-3 images (1 × 1 to 16 × 2000) and up to 500 boxes (zero-area,
    negative, huge, outside the image), and in about half of them one fault: a duplicate id, a
    NaN / None / string / boolean value, an unlisted image or category."""
    sizes = draw(st.lists(SIZES, min_size=1, max_size=3))
    images = [{"id": i + 1, "file_name": f"{i + 1}.png", "height": h, "width": w}
              for i, (h, w) in enumerate(sizes)]
    categories = [{"id": c, "name": f"c{c}"} for c in draw(
        st.lists(st.sampled_from([1, 2, 7, 42]), min_size=1, max_size=3, unique=True))]
    coordinate = st.one_of(st.floats(-20, 80), st.floats(-1e6, 1e6), st.integers(-5, 70))
    boxes = draw(st.lists(st.lists(coordinate, min_size=4, max_size=4), max_size=500))
    annotations = [
        {"id": i + 1, "image_id": images[i % len(images)]["id"],
         "category_id": categories[i % len(categories)]["id"], "bbox": bbox, "iscrowd": 0}
        for i, bbox in enumerate(boxes)
    ]
    fault = draw(st.one_of(st.none(), st.sampled_from(FAULTS)))
    if fault is not None:
        event(f"fault: {fault}")
    if fault == "duplicate image id" and len(images) > 1:
        images[-1]["id"] = images[0]["id"]
    elif fault == "bad image size":
        images[0][draw(st.sampled_from(["height", "width"]))] = draw(st.one_of(
            st.none(), st.text(max_size=3), st.booleans(), st.integers(-5, 100),
            st.floats(max_value=100), st.sampled_from([math.nan, math.inf])))
    elif annotations and fault is not None:
        ann = draw(st.sampled_from(annotations))
        if fault == "bad box":
            ann["bbox"] = draw(st.one_of(st.lists(VALUE, min_size=4, max_size=4),
                                         st.lists(NUMBER, max_size=6), VALUE))
        elif fault == "duplicate annotation id":
            ann["id"] = annotations[0]["id"] if ann is not annotations[0] else -1
        elif fault == "unlisted image":
            ann["image_id"] = 99
        elif fault == "unlisted category":
            ann["category_id"] = 1000
    return {"images": images, "annotations": annotations, "categories": categories}


def _mapper():
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.INPUT.MIN_SIZE_TRAIN = (32,)
    cfg.INPUT.MAX_SIZE_TRAIN = 256
    return BoxSupervisedDatasetMapper(cfg, True)


MAPPER = _mapper()


@given(data=coco_dicts())
def test_registration_and_mapper_work_or_name_the_file(data, tmp_path):
    root = tmp_path / uuid.uuid4().hex
    root.mkdir()
    json_path = root / "fuzz.json"
    json_path.write_text(json.dumps(data))
    try:
        check_coco_json(str(json_path))
    except ValueError as e:
        assert str(json_path) in str(e)
        event("rejected with the file named")
        return
    event("loaded")
    for image in data["images"]:
        cv2.imwrite(str(root / image["file_name"]),
                    np.full((int(image["height"]), int(image["width"]), 3), 128, np.uint8))
    name = f"fuzz_{root.name}"
    register_box_coco(name, json_path, root)
    dicts = DatasetCatalog.get(name)
    for record in dicts:
        for anno in record["annotations"]:
            x, y, w, h = anno["bbox"]
            assert all(math.isfinite(v) for v in (x, y, w, h)) and w > 0 and h > 0
            assert x >= 0 and y >= 0
            assert x + w <= record["width"] + 1e-3 and y + h <= record["height"] + 1e-3
        mapped = MAPPER(record)
        boxes = mapped["instances"].gt_boxes.tensor
        assert torch.isfinite(boxes).all()
        assert len(mapped["instances"]) <= len(record["annotations"])
