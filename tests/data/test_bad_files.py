"""Bad annotation files and images: each stops with an error naming the file and the entry
(defects: duplicate image ids, NaN / None / string coordinates and sizes)."""
import json

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from box2mask.data import check_coco_json, read_image, register_box_coco

NAN = float("nan")


def _set_bbox(value):
    return lambda d: d["annotations"][0].update(bbox=value)


# (case, mutation of the json, text the error contains besides the file's name)
BAD_JSON = [
    ("duplicate image id", lambda d: d["images"][1].update(id=1),
     "images[0] and images[1] have the same id 1"),
    ("duplicate annotation id", lambda d: d["annotations"][1].update(id=1),
     "annotations[0] and annotations[1] have the same id 1"),
    ("duplicate category id", lambda d: d["categories"][1].update(id=1),
     "categories[0] and categories[1] have the same id 1"),
    ("NaN box coordinate", _set_bbox([1, NAN, 3, 4]), "annotations[0] (id 1): 'bbox' must be four"),
    ("None box coordinate", _set_bbox([1, None, 3, 4]),
     "annotations[0] (id 1): 'bbox' must be four"),
    ("string box coordinate", _set_bbox([1, "2", 3, 4]),
     "annotations[0] (id 1): 'bbox' must be four"),
    ("infinite box coordinate", _set_bbox([1, 2, float("inf"), 4]),
     "annotations[0] (id 1): 'bbox' must be four"),
    ("string image height", lambda d: d["images"][0].update(height="64"),
     "images[0] (id 1) has height '64'"),
    ("zero image width", lambda d: d["images"][0].update(width=0), "images[0] (id 1) has width 0"),
    ("annotation of a missing image", lambda d: d["annotations"][0].update(image_id=99),
     "annotations[0] (id 1) refers to image_id 99, not in 'images'"),
    ("unknown category id", lambda d: d["annotations"][0].update(category_id=7),
     "annotations[0] (id 1) has category_id 7, not in 'categories'"),
    ("annotation that is not an object", lambda d: d["annotations"].append([1, 2]),
     "annotations[4] is not an object"),
    ("section that is not a list", lambda d: d.update(images={}), "'images' must be a list"),
]


@pytest.mark.parametrize("case, mutate, message", BAD_JSON, ids=[c[0] for c in BAD_JSON])
def test_bad_json_names_file_and_entry(coco_set, case, mutate, message):
    json_path, _ = coco_set
    data = json.loads(json_path.read_text())
    mutate(data)
    json_path.write_text(json.dumps(data))  # NaN and Infinity written as json does
    before = json_path.read_bytes()
    with pytest.raises(ValueError) as e:
        check_coco_json(str(json_path))
    assert str(json_path) in str(e.value) and message in str(e.value), str(e.value)
    assert json_path.read_bytes() == before  # the user's file is never written to


def test_truncated_json_names_the_file(coco_set):
    json_path, _ = coco_set
    json_path.write_text(json_path.read_text()[:-40])
    with pytest.raises(ValueError, match=f"{json_path}: not valid JSON"):
        check_coco_json(str(json_path))


def test_truncated_image_names_the_file(coco_set):
    _, image_dir = coco_set
    image = image_dir / "001.png"
    image.write_bytes(image.read_bytes()[:60])
    with pytest.raises(ValueError, match=f"{image}: cannot decode the image"):
        read_image(str(image))


def test_registered_set_raises_on_loading(coco_set):
    json_path, image_dir = coco_set
    data = json.loads(json_path.read_text())
    data["images"][1]["id"] = 1
    json_path.write_text(json.dumps(data))
    register_box_coco("t_bad_duplicate", json_path, image_dir)
    with pytest.raises(ValueError, match="have the same id 1"):
        DatasetCatalog.get("t_bad_duplicate")


def test_register_sets_extra_metadata(coco_set):
    json_path, image_dir = coco_set
    register_box_coco("t_meta", json_path, image_dir, evaluator_type="voc_instance",
                      thing_classes=["a", "b"])
    meta = MetadataCatalog.get("t_meta")
    assert (meta.evaluator_type, meta.json_file) == ("voc_instance", str(json_path))
    register_box_coco("t_meta_default", json_path, image_dir)
    assert MetadataCatalog.get("t_meta_default").evaluator_type == "coco"


def test_image_list_without_annotations(coco_set):
    json_path, image_dir = coco_set
    data = json.loads(json_path.read_text())
    data.pop("annotations")
    json_path.write_text(json.dumps(data))
    register_box_coco("t_image_list", json_path, image_dir, annotated=False)
    dicts = DatasetCatalog.get("t_image_list")
    assert len(dicts) == 3 and all(d["annotations"] == [] for d in dicts)
