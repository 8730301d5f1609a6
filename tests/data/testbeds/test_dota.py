"""projects/DOTA/prepare.py on a raw sample in DOTA-v1.0's layout (patches shrunk to 64 pixels
with 16 of overlap), the DOTA config trained for 2 iterations and evaluated as Task 1, and
projects/DOTA/export.py on the predictions."""
import importlib.util
import json

import numpy as np
import pytest
from detectron2.config import get_cfg
from PIL import Image

from box2mask import add_box2mask_config
from box2mask.data.testbeds.dota import DOTA_CLASSES, dota_windows

from .conftest import ROOT, snapshot, train_and_evaluate


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prepare = _load("dota_prepare", "projects/DOTA/prepare.py")
export = _load("dota_export", "projects/DOTA/export.py")

PATCH = ["--patch", "64", "--overlap", "16"]
# split → {image: (height, width, [label line without header])}
RAW = {
    "train": {"P0001": (100, 120, ["10 10 40 10 40 30 10 30 plane 0",
                                   "50 40 70 40 70 90 50 90 ship 0"]),
              "P0002": (50, 60, ["20 10 30 20 20 30 10 20 small-vehicle 1"])},
    "val": {"P0003": (100, 100, ["20 20 50 20 50 50 20 50 plane 0",
                                 "70 70 80 70 80 80 70 80 small-vehicle 1"])},
}


def write_raw(root):
    """DOTA_ROOT/{train,val}/{images/P*.png, labelTxt/P*.txt with the two header lines}."""
    rng = np.random.default_rng(0)
    for split, images in RAW.items():
        (root / split / "images").mkdir(parents=True)
        (root / split / "labelTxt").mkdir()
        for name, (h, w, lines) in images.items():
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
                root / split / "images" / f"{name}.png")
            (root / split / "labelTxt" / f"{name}.txt").write_text(
                "imagesource:GoogleEarth\ngsd:0.146343590398\n" + "\n".join(lines) + "\n")
    return root


def test_dota_windows_follow_the_devkit():
    # 100 × 120, 64-pixel patches every 48: x 0, 48, then 56 (moved back to the border);
    # y 0, then 36. A side not longer than the patch is one window.
    assert dota_windows(100, 120, 64, 16) == [
        (x, y, x + 64, y + 64) for x in (0, 48, 56) for y in (0, 36)]
    assert dota_windows(50, 60, 64, 16) == [(0, 0, 60, 50)]
    assert dota_windows(50, 120, 64, 16) == [(x, 0, x + 64, 50) for x in (0, 48, 56)]
    assert dota_windows(1848, 2000) == [(x, y, x + 1024, y + 1024) for x in (0, 824, 976)
                                        for y in (0, 824)]


def test_prepare_train_evaluate_export(tmp_path, testbeds_under):
    raw = write_raw(tmp_path / "DOTA")
    raw_before = snapshot(raw)
    out = testbeds_under / "dota"
    prepare.main(["--dota", str(raw), "--out", str(out), *PATCH])

    train = json.loads((out / "train.json").read_text())
    val = json.loads((out / "val.json").read_text())
    assert [c["name"] for c in train["categories"]] == list(DOTA_CLASSES)
    assert len(train["images"]) == 6 + 1 and len(val["images"]) == 4
    entry = {i["file_name"]: i for i in train["images"]}
    assert entry["P0001__1.0__56___36.png"]["source"] == "P0001"
    assert (entry["P0001__1.0__56___36.png"]["x0"], entry["P0001__1.0__56___36.png"]["y0"]) \
        == (56, 36)
    patch = np.asarray(Image.open(out / "images/P0001__1.0__56___36.png"))
    whole = np.asarray(Image.open(raw / "train/images/P0001.png"))
    assert (patch == whole[36:100, 56:120]).all()
    assert (out / "images/P0002__1.0__0___0.png").resolve() == (
        raw / "train/images/P0002.png").resolve()  # kept whole: a link
    names = {i["id"]: i["file_name"] for i in train["images"]}
    boxes = sorted((names[a["image_id"]], DOTA_CLASSES[a["category_id"] - 1], a["bbox"])
                   for a in train["annotations"])
    # the ship (x 50..70, y 40..90) lies whole only in the patch at (48, 36); elsewhere at
    # most 70 % of it is visible: left out
    assert boxes == [("P0001__1.0__0___0.png", "plane", [10, 10, 30, 20]),
                     ("P0001__1.0__48___36.png", "ship", [2, 4, 20, 50]),
                     ("P0002__1.0__0___0.png", "small-vehicle", [10, 10, 20, 20])]
    assert all("segmentation" not in a for a in train["annotations"])
    assert (out / "val_labelTxt/P0003.txt").read_text() == (
        raw / "val/labelTxt/P0003.txt").read_text()

    mtime = (out / "train.json").stat().st_mtime_ns
    prepare.main(["--dota", str(raw), "--out", str(out), *PATCH])  # idempotent
    assert (out / "train.json").stat().st_mtime_ns == mtime
    assert snapshot(raw) == raw_before

    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs/dota/box2mask_c_R_50.yaml"))
    assert (cfg.DATASETS.TRAIN, cfg.DATASETS.TEST) == (("dota_train_box",), ("dota_val",))
    assert cfg.MODEL.BOX2MASK.NUM_CLASSES == len(DOTA_CLASSES)

    run = tmp_path / "run"
    results = train_and_evaluate("dota/box2mask_c_R_50.yaml", run,
                                 "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False",
                                 "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64",
                                 "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "64",
                                 # an untrained model: keep every candidate and its mask
                                 "MODEL.BOX2MASK_C.SCORE_THRESH", "0.0",
                                 "MODEL.BOX2MASK_C.UPDATE_THRESH", "0.0",
                                 "MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD", "0.0")
    # val holds one non-difficult plane: only its class is scored
    assert set(results["dota"]) == {"mAP", "AP-plane"}
    assert 0 <= results["dota"]["mAP"] <= 100
    task1 = run / "inference/dota_val/task1"
    assert sorted(p.name for p in task1.iterdir()) == sorted(
        f"Task1_{c}.txt" for c in DOTA_CLASSES)
    lines = [line for p in task1.iterdir() for line in p.read_text().splitlines()]
    assert lines  # oriented boxes of the masks, on the full image's coordinates
    for line in lines:
        image, score, *corners = line.split()
        assert image == "P0003" and 0 <= float(score) <= 1 and len(corners) == 8
        assert all(0 <= float(v) <= 100 for v in corners)

    exported = tmp_path / "exported"
    export.main(["--predictions", str(run / "inference/dota_val/coco_instances_results.json"),
                 "--out", str(exported), "--patches", str(out / "val.json")])
    for path in task1.iterdir():
        assert (exported / path.name).read_text() == path.read_text()


def test_bad_raw_input_names_the_file(tmp_path):
    raw = write_raw(tmp_path / "DOTA")
    (raw / "val/labelTxt/P0003.txt").write_text("imagesource:GoogleEarth\ngsd:null\n"
                                                 "20 20 50 20 50 50 20 50 jet 0\n")
    with pytest.raises(ValueError, match=r"val/labelTxt/P0003\.txt:3: unknown class 'jet'"):
        prepare.main(["--dota", str(raw), "--out", str(tmp_path / "o1"), *PATCH])
    (raw / "train/labelTxt/P0002.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"train/labelTxt/P0002\.txt: missing"):
        prepare.main(["--dota", str(raw), "--out", str(tmp_path / "o2"), *PATCH])
