import json
import logging

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from box2mask.data import check_coco_json, register_box_coco


def test_register_keeps_masks_and_sanitises_boxes(coco_set, caplog):
    json_path, image_dir = coco_set
    register_box_coco("t_register", json_path, image_dir)
    with caplog.at_level(logging.WARNING):
        dicts = DatasetCatalog.get("t_register")
    assert [len(d["annotations"]) for d in dicts] == [2, 1, 0]  # empty image kept
    assert "dropped 1 boxes" in caplog.text and "clipped 1 boxes" in caplog.text
    x, y, w, h = dicts[1]["annotations"][0]["bbox"]
    assert (x, y, x + w, y + h) == (60, 50, 80, 64)
    assert "segmentation" in dicts[0]["annotations"][0]  # kept for evaluation
    meta = MetadataCatalog.get("t_register")
    assert meta.thing_classes == ["a", "b"] and meta.evaluator_type == "coco"


def test_box_only_json_loads(tmp_path):
    from conftest import write_coco_set

    json_path, image_dir = write_coco_set(tmp_path, with_masks=False)
    register_box_coco("t_box_only", json_path, image_dir)
    dicts = DatasetCatalog.get("t_box_only")
    assert all("segmentation" not in a for d in dicts for a in d["annotations"])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("annotations"), "missing top-level field 'annotations'"),
        (lambda d: d["images"][0].pop("file_name"), "images[0] lacks the field 'file_name'"),
        (lambda d: d["annotations"][0].pop("bbox"), "annotations[0] lacks the field 'bbox'"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2]), "must be [x, y, w, h]"),
        (lambda d: d.update(categories=[]), "'categories' is empty"),
    ],
)
def test_not_coco_shaped_names_field(coco_set, mutate, message):
    json_path, _ = coco_set
    data = json.loads(json_path.read_text())
    mutate(data)
    json_path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as e:
        check_coco_json(str(json_path))
    assert message in str(e.value) and str(json_path) in str(e.value)


def test_invalid_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        check_coco_json(str(bad))
    with pytest.raises(FileNotFoundError, match="nope.json"):
        check_coco_json(str(tmp_path / "nope.json"))


def test_register_twice(coco_set, tmp_path):
    json_path, image_dir = coco_set
    register_box_coco("t_twice", json_path, image_dir)
    register_box_coco("t_twice", json_path, image_dir)  # same set: fine
    with pytest.raises(ValueError, match="'t_twice' is already registered"):
        register_box_coco("t_twice", tmp_path / "other.json", image_dir)
