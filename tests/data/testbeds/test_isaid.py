"""projects/iSAID/prepare.py on a raw sample in the iSAID devkit's layout (patches shrunk to
64 pixels with 16 of overlap), then the iSAID config trained for 2 iterations and evaluated
with the iSAID evaluator."""
import importlib.util
import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image

from box2mask.data.testbeds import ISAID_CLASSES, patch_windows

from .conftest import ROOT, snapshot, train_and_evaluate

_spec = importlib.util.spec_from_file_location("isaid_prepare",
                                               ROOT / "projects/iSAID/prepare.py")
prepare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare)

PATCH = ["--patch", "64", "--overlap", "16"]
# split → {image: (height, width, [(class name, polygon x0, y0, x1, y1)])}
RAW = {
    "train": {"P0001.png": (100, 120, [("plane", 10, 10, 40, 30), ("ship", 50, 40, 70, 90),
                                       ("Small_Vehicle", 111, 60, 118, 62)]),
              "P0002.png": (50, 60, [("Harbor", 5, 5, 40, 45)])},
    "val": {"P0003.png": (100, 100, [("plane", 20, 20, 50, 50), ("Bridge", 60, 5, 95, 40)])},
}


def write_raw(root):
    """ISAID_ROOT/{train,val}/{images, Annotations/iSAID_<split>.json}; the val json numbers
    its categories in another order, as the official ones do."""
    rng = np.random.default_rng(0)
    for split, images in RAW.items():
        (root / split / "images").mkdir(parents=True)
        (root / split / "Annotations").mkdir()
        names = list(ISAID_CLASSES) if split == "train" else list(reversed(ISAID_CLASSES))
        cats = [{"id": i, "name": n} for i, n in enumerate(names, 1)]
        entries, anns = [], []
        for image_id, (file_name, (h, w, objects)) in enumerate(images.items(), 1):
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
                root / split / "images" / file_name)
            stem = file_name[:-4]  # the devkit's instance PNGs beside it, not inputs here
            (root / split / "images" / f"{stem}_instance_color_RGB.png").write_bytes(b"x")
            entries.append({"id": image_id, "file_name": file_name, "height": h, "width": w})
            for name, x0, y0, x1, y1 in objects:
                anns.append({"id": len(anns) + 1, "image_id": image_id, "iscrowd": 0,
                             "category_id": names.index(name) + 1, "category_name": name,
                             "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
                             "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0)})
        (root / split / "Annotations" / f"iSAID_{split}.json").write_text(json.dumps(
            {"images": entries, "annotations": anns, "categories": cats}))
    return root


def test_patch_windows_follow_the_devkit():
    # 100 × 120 with 64-pixel patches every 48: x 0, 48, 96 → 56 (moved back to the border),
    # y 0, 48 → 36, 96 → 36.
    assert patch_windows(100, 120, 64, 16) == [
        (x, y, x + 64, y + 64) for x in (0, 48, 56) for y in (0, 36)]
    assert patch_windows(50, 60, 64, 16) == [(0, 0, 60, 50)]  # smaller: kept whole
    assert patch_windows(100, 60, 64, 16) == [(0, 0, 60, 100)]  # one side smaller: whole
    assert len(patch_windows(4000, 3000)) == 7 * 5


def test_prepare_train_evaluate(tmp_path, testbeds_under):
    raw = write_raw(tmp_path / "iSAID")
    raw_before = snapshot(raw)
    out = testbeds_under / "isaid"
    prepare.main(["--isaid", str(raw), "--out", str(out), *PATCH])

    train = json.loads((out / "train.json").read_text())
    val = json.loads((out / "val.json").read_text())
    assert [c["name"] for c in train["categories"]] == list(ISAID_CLASSES)
    assert [c["name"] for c in val["categories"]] == list(ISAID_CLASSES)
    assert len(train["images"]) == 6 + 1 and len(val["images"]) == 4
    names = {i["id"]: i["file_name"] for i in train["images"]}
    assert names[1] == "P0001_0_64_0_64.png" and "P0002.png" in names.values()
    patch = np.asarray(Image.open(out / "images/P0001_36_100_56_120.png"))
    whole = np.asarray(Image.open(raw / "train/images/P0001.png"))
    assert (patch == whole[36:100, 56:120]).all()
    assert all("segmentation" not in a for a in train["annotations"])
    by_patch = {}
    for a in train["annotations"]:
        by_patch.setdefault(names[a["image_id"]], []).append(
            (ISAID_CLASSES[a["category_id"] - 1], a["bbox"]))
    # polygon x 10..40 covers pixels 10..39; the ship (x 50..70, y 40..90) clipped to each patch
    assert by_patch["P0001_0_64_0_64.png"] == [("plane", [10, 10, 30, 20]),
                                              ("ship", [50, 40, 14, 24])]
    assert by_patch["P0001_0_64_48_112.png"] == [("ship", [2, 40, 20, 24])]
    # the vehicle keeps one pixel column (under 5 pixels) in the patches at x 48: dropped there
    assert [c for c, _ in by_patch["P0001_36_100_48_112.png"]] == ["ship"]
    assert [c for c, _ in by_patch["P0001_36_100_56_120.png"]] == ["ship", "Small_Vehicle"]
    plane_id = ISAID_CLASSES.index("plane") + 1
    val_planes = [a for a in val["annotations"] if a["category_id"] == plane_id]
    assert val_planes  # matched by name, not by the val json's own ids
    for ann in val["annotations"]:
        mask = mask_util.decode(ann["segmentation"])
        assert mask.shape == (64, 64) and mask.sum() == ann["area"] >= 5

    mtime = (out / "train.json").stat().st_mtime_ns
    prepare.main(["--isaid", str(raw), "--out", str(out), *PATCH])  # idempotent
    assert (out / "train.json").stat().st_mtime_ns == mtime
    assert snapshot(raw) == raw_before

    results = train_and_evaluate("isaid/box2mask_c_R_101.yaml", tmp_path / "run",
                                 "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False",
                                 "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64",
                                 "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "64")
    assert set(results["segm"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert (tmp_path / "run/inference/isaid_val/isaid_instances_results.json").exists()


def test_bad_raw_input_names_the_file(tmp_path):
    raw = write_raw(tmp_path / "iSAID")
    (raw / "val/images/P0003.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"iSAID_val\.json: image 1 'P0003\.png'"):
        prepare.main(["--isaid", str(raw), "--out", str(tmp_path / "o1"), *PATCH])
    with pytest.raises(FileNotFoundError, match=r"train/Annotations/iSAID_train\.json: missing"):
        (raw / "train/Annotations/iSAID_train.json").unlink()
        prepare.main(["--isaid", str(raw), "--out", str(tmp_path / "o2"), *PATCH])
