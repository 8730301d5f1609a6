"""projects/COCO/prepare.py on a raw sample in the official COCO 2017 layout, then the COCO
config trained for 2 iterations and evaluated with COCOEvaluator, and a test-dev results file."""
import importlib.util
import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from PIL import Image

from .conftest import ROOT, snapshot, train_and_evaluate

_spec = importlib.util.spec_from_file_location("coco_prepare", ROOT / "projects/COCO/prepare.py")
prepare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare)

H, W = 48, 64
CATEGORIES = [{"supercategory": "x", "id": c["id"], "name": c["name"]}
              for c in COCO_CATEGORIES if c["isthing"]]  # the official 80, ids 1..90


def _polygon_ann(ann_id, image_id, category_id, x0, y0, x1, y1):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": 0,
            "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
            "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0))}


def _crowd_ann(ann_id, image_id, category_id):
    mask = np.zeros((H, W), np.uint8)
    mask[30:44, 4:20] = 1
    counts, previous, run = [], 0, 0
    for value in mask.flatten(order="F"):  # uncompressed RLE, as COCO stores crowds
        if value != previous:
            counts.append(run)
            previous, run = value, 0
        run += 1
    counts.append(run)
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": 1,
            "segmentation": {"counts": counts, "size": [H, W]}, "bbox": [4, 30, 16, 14],
            "area": float(mask.sum())}


def write_raw(root):
    """COCO_ROOT/{annotations, train2017, val2017, test2017} as the official zips unpack."""
    (root / "annotations").mkdir(parents=True)
    rng = np.random.default_rng(0)
    splits = {"train2017": [1, 2, 3], "val2017": [11, 12], "test2017": [21]}
    images = {}
    for folder, ids in splits.items():
        (root / folder).mkdir()
        images[folder] = []
        for i in ids:
            name = f"{i:012d}.jpg"
            Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(
                root / folder / name)
            images[folder].append({"id": i, "file_name": name, "height": H, "width": W})
    train_anns = [_polygon_ann(1, 1, 1, 4, 4, 30, 40), _polygon_ann(2, 2, 18, 20, 10, 60, 40),
                  _polygon_ann(3, 3, 90, 2, 2, 12, 12), _crowd_ann(4, 1, 1)]
    val_anns = [_polygon_ann(5, 11, 1, 4, 4, 30, 40), _polygon_ann(6, 12, 18, 20, 10, 60, 40),
                _crowd_ann(7, 12, 1)]
    for name, folder, anns in (("instances_train2017.json", "train2017", train_anns),
                               ("instances_val2017.json", "val2017", val_anns)):
        (root / "annotations" / name).write_text(json.dumps(
            {"info": {}, "licenses": [], "images": images[folder], "annotations": anns,
             "categories": CATEGORIES}))
    (root / "annotations/image_info_test-dev2017.json").write_text(json.dumps(
        {"info": {}, "images": images["test2017"], "categories": CATEGORIES}))
    return root


def test_prepare_train_evaluate(tmp_path, testbeds_under):
    raw = write_raw(tmp_path / "coco_raw")
    raw_before = snapshot(raw)
    out = testbeds_under / "coco"
    prepare.main(["--coco", str(raw), "--out", str(out), "--test-dev"])

    train = json.loads((out / "train.json").read_text())
    val = json.loads((out / "val.json").read_text())
    test_dev = json.loads((out / "test-dev.json").read_text())
    for data in (train, val, test_dev):
        assert [(c["id"], c["name"]) for c in data["categories"]] == [
            (c["id"], c["name"]) for c in CATEGORIES]
    assert [a["category_id"] for a in train["annotations"]] == [1, 18, 90]  # crowd dropped
    assert all("segmentation" not in a for a in train["annotations"])
    assert [i["file_name"] for i in train["images"]] == [
        f"train2017/{i:012d}.jpg" for i in (1, 2, 3)]
    assert [a["iscrowd"] for a in val["annotations"]] == [0, 0, 1]
    for ann in val["annotations"]:
        assert isinstance(ann["segmentation"]["counts"], str)  # compressed RLE
        assert mask_util.area(ann["segmentation"]) == pytest.approx(ann["area"], abs=40)
    assert "annotations" not in test_dev and len(test_dev["images"]) == 1
    assert (out / "images/val2017" / val["images"][0]["file_name"].split("/")[1]).exists()

    mtime = (out / "val.json").stat().st_mtime_ns
    prepare.main(["--coco", str(raw), "--out", str(out), "--test-dev"])  # idempotent
    assert (out / "val.json").stat().st_mtime_ns == mtime
    assert snapshot(raw) == raw_before

    run = tmp_path / "run"
    results = train_and_evaluate("coco/box2mask_c_R_50_3x.yaml", run,
                                 "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False")
    assert set(results) == {"bbox", "segm"} and "AP" in results["segm"]

    train_and_evaluate("coco/box2mask_c_R_50_3x.yaml", run, "--eval-only",
                       "MODEL.WEIGHTS", str(run / "model_final.pth"),
                       "DATASETS.TEST", "('coco_2017_test-dev_box2mask',)")
    server_file = run / "inference/coco_2017_test-dev_box2mask/coco_instances_results.json"
    detections = json.loads(server_file.read_text())
    assert {d["category_id"] for d in detections} <= {c["id"] for c in CATEGORIES}
    assert {d["image_id"] for d in detections} <= {21}


def test_missing_image_names_the_json(tmp_path):
    raw = write_raw(tmp_path / "coco_raw")
    (raw / "val2017/000000000012.jpg").unlink()
    with pytest.raises(FileNotFoundError,
                       match=r"instances_val2017\.json: image 12 '000000000012\.jpg' is not in"):
        prepare.main(["--coco", str(raw), "--out", str(tmp_path / "out")])
    with pytest.raises(FileNotFoundError, match=r"instances_train2017\.json: missing"):
        (raw / "annotations/instances_train2017.json").unlink()
        prepare.main(["--coco", str(raw), "--out", str(tmp_path / "out2")])
