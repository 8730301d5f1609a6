"""projects/LiTS/prepare.py on NIfTI volumes in the LiTS layout (written with nibabel), the
LiTS config trained for 2 iterations and evaluated with COCO box and mask AP."""
import importlib.util
import json

import nibabel as nib
import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.config import get_cfg
from PIL import Image

from box2mask import add_box2mask_config
from box2mask.data.testbeds.lits import LITS_CLASSES, hu_window

from .conftest import ROOT, snapshot, train_and_evaluate

_spec = importlib.util.spec_from_file_location("lits_prepare", ROOT / "projects/LiTS/prepare.py")
prepare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare)

SHAPE = (32, 40, 6)  # x, y, axial slices
# volume id → (folder, sign of the x and y voxel axes in world RAS coordinates)
VOLUMES = {0: ("Training Batch 1", -1), 1: ("Training Batch 1", 1), 28: ("Training Batch 2", -1)}


def write_volume(folder, n, sign):
    """volume-<n>.nii (int16 HU) and segmentation-<n>.nii (uint8 labels): the liver on the
    patient's right and anterior side in slices 1..3, two tumours in slice 2, and in slice 3 a
    second piece of liver."""
    ct = np.full(SHAPE, -1000, np.int16)  # air
    seg = np.zeros(SHAPE, np.uint8)
    # patient's right (world x large) and anterior (world y large) in voxels: high indices
    # when the axis runs along +x / +y, low ones otherwise
    xs = slice(20, 30) if sign > 0 else slice(2, 12)
    ys = slice(25, 38) if sign > 0 else slice(2, 15)
    for k in (1, 2, 3):
        ct[xs, ys, k], seg[xs, ys, k] = 60, 1
    xt = slice(xs.start + 1, xs.start + 3)
    ct[xt, ys.start + 1:ys.start + 3, 2] = seg[xt, ys.start + 1:ys.start + 3, 2] = 2
    ct[xt, ys.start + 8:ys.start + 10, 2] = seg[xt, ys.start + 8:ys.start + 10, 2] = 2
    ct[0, 0, 3], seg[0, 0, 3] = 60, 1
    affine = np.diag([0.8 * sign, 0.8 * sign, 2.5, 1.0])
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(ct, affine), folder / f"volume-{n}.nii")
    nib.save(nib.Nifti1Image(seg, affine), folder / f"segmentation-{n}.nii")


def write_raw(root):
    for n, (folder, sign) in VOLUMES.items():
        write_volume(root / folder, n, sign)
    return root


def test_hu_window():
    hu = np.array([-1000, -100, 150, 400, 3000])
    assert hu_window(hu, -100, 400).tolist() == [0, 0, 128, 255, 255]
    with pytest.raises(ValueError, match="must exceed"):
        hu_window(hu, 400, -100)


def test_prepare_train_evaluate(tmp_path, testbeds_under):
    raw = write_raw(tmp_path / "LiTS")
    raw_before = snapshot(raw)
    out = testbeds_under / "lits"
    prepare.main(["--lits", str(raw), "--out", str(out), "--size", "64"])

    split = json.loads((out / "split.json").read_text())
    assert sorted(split["train"] + split["val"]) == ["volume-0", "volume-1", "volume-28"]
    assert len(split["val"]) == 1  # 20 % of 3 volumes, at least one
    train = json.loads((out / "train.json").read_text())
    val = json.loads((out / "val.json").read_text())
    assert [c["name"] for c in train["categories"]] == list(LITS_CLASSES)
    assert len(train["images"]) == 2 * 3 and len(val["images"]) == 3  # slices with liver
    for data, names in ((train, split["train"]), (val, split["val"])):
        assert {i["volume"] for i in data["images"]} == set(names)  # never split a volume
    assert all("segmentation" not in a for a in train["annotations"])

    for data in (train, val):
        for image in data["images"]:
            k = int(image["file_name"][:-4].split("_")[1])
            anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
            classes = sorted(LITS_CLASSES[a["category_id"] - 1] for a in anns)
            # slice 2: the liver and two tumours; slice 3: two pieces of liver
            assert classes == {1: ["liver"], 2: ["liver", "tumor", "tumor"],
                               3: ["liver", "liver"]}[k]
            liver = max((a for a in anns if a["category_id"] == 1), key=lambda a: a["area"])
            x, y, w, h = liver["bbox"]
            # radiological view: the patient's right on the left, anterior at the top,
            # whichever way the voxel axes run
            assert x + w <= 32 and y + h <= 32
            pixels = np.asarray(Image.open(out / "images" / image["file_name"]))
            assert pixels.shape == (64, 64) and pixels[0, 63] == 0  # air
            if k != 2:  # the middle of the liver, 60 HU
                assert pixels[int(y + h / 2), int(x + w / 2)] == hu_window(np.array([60]),
                                                                           -100, 400)[0]
    for ann in val["annotations"]:
        mask = mask_util.decode(ann["segmentation"])
        assert mask.shape == (64, 64) and mask.sum() == ann["area"] > 0
    tumours = [a for a in val["annotations"] if a["category_id"] == 2]
    livers = {a["image_id"]: mask_util.decode(a["segmentation"]) for a in val["annotations"]
              if a["category_id"] == 1 and a["area"] > 100}
    for t in tumours:  # the liver mask keeps its tumours
        assert (livers[t["image_id"]] >= mask_util.decode(t["segmentation"])).all()

    mtime = (out / "train.json").stat().st_mtime_ns
    prepare.main(["--lits", str(raw), "--out", str(out), "--size", "64"])
    assert (out / "train.json").stat().st_mtime_ns == mtime  # idempotent
    assert snapshot(raw) == raw_before

    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs/lits/box2mask_t_R_50.yaml"))
    assert (cfg.DATASETS.TRAIN, cfg.DATASETS.TEST) == (("lits_train_box",), ("lits_val",))
    assert cfg.MODEL.BOX2MASK.NUM_CLASSES == len(LITS_CLASSES)

    run = tmp_path / "run"
    results = train_and_evaluate("lits/box2mask_t_R_50.yaml", run, "INPUT.LSJ.IMAGE_SIZE", "64")
    assert {"bbox", "segm"} <= set(results)
    assert {"AP", "AP50", "AP75"} <= set(results["segm"])


def test_bad_raw_input_names_the_file(tmp_path):
    raw = write_raw(tmp_path / "LiTS")
    seg = raw / "Training Batch 2/segmentation-28.nii"
    labels = np.zeros(SHAPE, np.uint8)
    labels[1, 1, 1] = 3
    nib.save(nib.Nifti1Image(labels, np.eye(4)), seg)
    with pytest.raises(ValueError, match=r"segmentation-28\.nii: label values from 0 to 3"):
        prepare.main(["--lits", str(raw), "--out", str(tmp_path / "o1"), "--size", "64"])
    seg.unlink()
    with pytest.raises(FileNotFoundError, match=r"segmentation-28\.nii: missing"):
        prepare.main(["--lits", str(raw), "--out", str(tmp_path / "o2"), "--size", "64"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty: no volume-<N>\.nii"):
        prepare.main(["--lits", str(tmp_path / "empty"), "--out", str(tmp_path / "o3")])
