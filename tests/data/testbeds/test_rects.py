"""projects/ReCTS/prepare.py on a raw sample in the ICDAR 2019 ReCTS layout, the ReCTS config
trained for 2 iterations and evaluated with COCO box AP."""
import importlib.util
import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.config import get_cfg
from PIL import Image

from box2mask import add_box2mask_config

from .conftest import ROOT, snapshot, train_and_evaluate

_spec = importlib.util.spec_from_file_location("rects_prepare",
                                               ROOT / "projects/ReCTS/prepare.py")
prepare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare)

# image → (height, width, [(points, ignore)])
RAW = {
    f"train_ReCTS_{i:06d}": (60, 80, [([10, 10, 50, 12, 50, 22, 10, 20], 0),
                                     ([5, 40, 30, 40, 30, 50, 5, 50], i == 2)])
    for i in range(1, 6)
}


def write_raw(root):
    """RECTS_ROOT/{img/<name>.jpg, gt/<name>.json} with 'chars' and 'lines'."""
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    (root / "gt").mkdir()
    for name, (h, w, lines) in RAW.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / "img" / f"{name}.jpg")
        gt = {"chars": [{"points": [10, 10, 20, 10, 20, 20, 10, 20], "transcription": "招",
                         "ignore": 0}],
              "lines": [{"points": p, "transcription": "###" if ignore else "招牌",
                         "ignore": int(ignore)} for p, ignore in lines]}
        (root / "gt" / f"{name}.json").write_text(json.dumps(gt, ensure_ascii=False), "utf-8")
    return root


def test_prepare_train_evaluate(tmp_path, testbeds_under):
    raw = write_raw(tmp_path / "ReCTS")
    raw_before = snapshot(raw)
    out = testbeds_under / "rects"
    prepare.main(["--rects", str(raw), "--out", str(out), "--val-fraction", "0.4"])

    split = json.loads((out / "split.json").read_text())
    assert len(split["val"]) == 2 and len(split["train"]) == 3
    assert sorted(split["train"] + split["val"]) == sorted(RAW)
    train = json.loads((out / "train.json").read_text())
    val = json.loads((out / "val.json").read_text())
    assert [c["name"] for c in train["categories"]] == ["text"]
    assert [i["file_name"] for i in val["images"]] == [f"{n}.jpg" for n in split["val"]]
    assert all("segmentation" not in a for a in train["annotations"])
    first = [a for a in train["annotations"] if a["image_id"] == 1]
    assert first[0]["bbox"] == [10, 10, 40, 12]  # the polygon's axis-aligned box
    crowds = {(d["images"][a["image_id"] - 1]["file_name"], a["bbox"][0])
              for d in (train, val) for a in d["annotations"] if a["iscrowd"]}
    assert crowds == {("train_ReCTS_000002.jpg", 5)}  # the ignored line: a crowd region
    for ann in val["annotations"]:
        mask = mask_util.decode(ann["segmentation"])
        assert mask.shape == (60, 80) and mask.sum() == ann["area"] > 0

    mtime = (out / "val.json").stat().st_mtime_ns
    prepare.main(["--rects", str(raw), "--out", str(out), "--val-fraction", "0.4"])
    assert (out / "val.json").stat().st_mtime_ns == mtime  # idempotent
    assert snapshot(raw) == raw_before

    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs/rects/box2mask_c_R_50.yaml"))
    assert (cfg.DATASETS.TRAIN, cfg.DATASETS.TEST) == (("rects_train_box",), ("rects_val",))
    assert cfg.MODEL.BOX2MASK.NUM_CLASSES == 1

    run = tmp_path / "run"
    results = train_and_evaluate("rects/box2mask_c_R_50.yaml", run)
    assert set(results) == {"bbox"}  # box AP only, as the paper reports on ReCTS
    assert {"AP", "AP50", "AP75"} <= set(results["bbox"])
    assert (run / "inference/rects_val/coco_instances_results.json").exists()


def test_bad_raw_input_names_the_file(tmp_path):
    raw = write_raw(tmp_path / "ReCTS")
    (raw / "gt/train_ReCTS_000003.json").write_text(json.dumps(
        {"chars": [], "lines": [{"points": [1, 2, 3], "transcription": "x", "ignore": 0}]}))
    with pytest.raises(ValueError, match=r"train_ReCTS_000003\.json: lines\[0\] needs 'points'"):
        prepare.main(["--rects", str(raw), "--out", str(tmp_path / "o1")])
    (raw / "gt/train_ReCTS_000003.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"gt/train_ReCTS_000003\.json: missing"):
        prepare.main(["--rects", str(raw), "--out", str(tmp_path / "o2")])
