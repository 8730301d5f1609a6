"""projects/VOC/prepare.py on a raw sample in the official VOC 2012 + SBD layout, then the VOC
config trained for 2 iterations and evaluated with the VOC instance evaluator."""
import importlib.util
import json

import imgviz
import numpy as np
import pycocotools.mask as mask_util
import pytest
import scipy.io
import scipy.sparse
from PIL import Image

from box2mask.data.testbeds import VOC_CLASSES

from .conftest import ROOT, snapshot, train_and_evaluate

_spec = importlib.util.spec_from_file_location("voc_prepare", ROOT / "projects/VOC/prepare.py")
prepare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare)

H, W = 48, 64
CAT, DOG, PERSON = VOC_CLASSES.index("cat") + 1, VOC_CLASSES.index("dog") + 1, 15
# id: in VOC train (T) / val (V) segmentation lists, SBD train (t) / val (v)
SPLITS = {"2007_000032": "Tt", "2007_000033": "Vv", "2007_000039": "V", "2008_000001": "T",
          "2008_000002": "t"}


def _save_palette_png(path, labels):
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(imgviz.label_colormap().flatten().tolist())
    image.save(path)


def _voc_annotation(objects):
    """SegmentationObject / SegmentationClass arrays of [(class, y0, y1, x0, x1)] rectangles,
    each with a 2-pixel void (255) border as VOC draws it."""
    obj, cls = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    for index, (category, y0, y1, x0, x1) in enumerate(objects, 1):
        obj[y0 - 2:y1 + 2, x0 - 2:x1 + 2] = 255
        cls[y0 - 2:y1 + 2, x0 - 2:x1 + 2] = 255
        obj[y0:y1, x0:x1], cls[y0:y1, x0:x1] = index, category
    return obj, cls


VOC_OBJECTS = {
    "2007_000032": [(CAT, 5, 20, 5, 25)],
    "2007_000033": [(DOG, 4, 20, 4, 30), (PERSON, 25, 44, 35, 60)],
    "2007_000039": [(CAT, 10, 40, 10, 50)],
    "2008_000001": [(PERSON, 6, 30, 30, 60)],
}
SBD_OBJECTS = {  # SBD's own (void-free) annotation, which train prefers
    "2007_000032": [(CAT, 5, 20, 5, 25), (DOG, 30, 45, 40, 60)],
    "2007_000033": [(DOG, 4, 20, 4, 30)],
    "2008_000002": [(PERSON, 0, 48, 0, 20)],
}


def _write_sbd_mat(path, objects):
    seg = np.zeros((H, W), np.uint8)
    for index, (_, y0, y1, x0, x1) in enumerate(objects, 1):
        seg[y0:y1, x0:x1] = index
    boundaries = np.empty((len(objects), 1), object)
    for i in range(len(objects)):
        boundaries[i, 0] = scipy.sparse.csc_matrix(seg == i + 1)
    categories = np.array([[c] for c, *_ in objects], np.uint8)
    scipy.io.savemat(path, {"GTinst": {"Segmentation": seg, "Boundaries": boundaries,
                                       "Categories": categories}})


def write_raw(root):
    """VOCdevkit/VOC2012 and benchmark_RELEASE/dataset as the official archives unpack."""
    voc, sbd = root / "VOCdevkit/VOC2012", root / "benchmark_RELEASE/dataset"
    for sub in ("JPEGImages", "SegmentationObject", "SegmentationClass",
                "ImageSets/Segmentation", "Annotations"):
        (voc / sub).mkdir(parents=True)
    for sub in ("img", "inst", "cls"):
        (sbd / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, splits in SPLITS.items():
        photo = Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        if splits != "t":  # SBD-only images come from SBD's img/ (VOC 2011)
            photo.save(voc / "JPEGImages" / f"{name}.jpg")
        if name in SBD_OBJECTS:
            photo.save(sbd / "img" / f"{name}.jpg")
            _write_sbd_mat(sbd / "inst" / f"{name}.mat", SBD_OBJECTS[name])
        if name in VOC_OBJECTS:
            obj, cls = _voc_annotation(VOC_OBJECTS[name])
            _save_palette_png(voc / "SegmentationObject" / f"{name}.png", obj)
            _save_palette_png(voc / "SegmentationClass" / f"{name}.png", cls)
    lists = {voc / "ImageSets/Segmentation/train.txt": "T", voc / "ImageSets/Segmentation/val.txt":
             "V", sbd / "train.txt": "t", sbd / "val.txt": "v"}
    for path, flag in lists.items():
        path.write_text("".join(f"{n}\n" for n, s in SPLITS.items() if flag in s))
    return voc, sbd


def test_prepare_train_evaluate(tmp_path, testbeds_under):
    voc, sbd = write_raw(tmp_path / "raw")
    raw_before = snapshot(tmp_path / "raw")
    out = testbeds_under / "voc"
    prepare.main(["--voc", str(voc), "--sbd", str(sbd), "--out", str(out)])

    train = json.loads((out / "train.json").read_text())
    val = json.loads((out / "val.json").read_text())
    assert [c["name"] for c in train["categories"]] == list(VOC_CLASSES)
    # train_aug: (SBD train ∪ SBD val ∪ VOC train) − VOC val
    assert [i["file_name"] for i in train["images"]] == [
        "2007_000032.jpg", "2008_000001.jpg", "2008_000002.jpg"]
    assert [i["file_name"] for i in val["images"]] == ["2007_000033.jpg", "2007_000039.jpg"]
    assert all("segmentation" not in a for a in train["annotations"])
    by_image = {i["id"]: i["file_name"] for i in train["images"]}
    boxes = sorted((by_image[a["image_id"]], a["category_id"], a["bbox"])
                   for a in train["annotations"])
    assert boxes == [
        ("2007_000032.jpg", CAT, [5, 5, 20, 15]),  # SBD's two instances, not VOC's one
        ("2007_000032.jpg", DOG, [40, 30, 20, 15]),
        ("2008_000001.jpg", PERSON, [30, 6, 30, 24]),  # VOC's, its void border left out
        ("2008_000002.jpg", PERSON, [0, 0, 20, 48]),
    ]
    for image in val["images"]:
        void = mask_util.decode(image["void"]).astype(bool)
        assert void.sum() > 0
        for ann in (a for a in val["annotations"] if a["image_id"] == image["id"]):
            mask = mask_util.decode(ann["segmentation"]).astype(bool)
            assert not (mask & void).any() and ann["area"] == mask.sum()
    assert sorted(a["category_id"] for a in val["annotations"]) == sorted([DOG, PERSON, CAT])
    assert (out / "images/2008_000002.jpg").resolve() == (sbd / "img/2008_000002.jpg").resolve()

    mtime = (out / "train.json").stat().st_mtime_ns
    prepare.main(["--voc", str(voc), "--sbd", str(sbd), "--out", str(out)])  # idempotent
    assert (out / "train.json").stat().st_mtime_ns == mtime
    assert snapshot(tmp_path / "raw") == raw_before

    results = train_and_evaluate("voc/box2mask_c_R_50.yaml", tmp_path / "run",
                                 "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False")
    assert set(results["voc_segm"]) >= {"AP25", "AP50", "AP70", "AP75", "AP50-cat"}
    assert "AP" in results["segm"]
    final = json.loads((tmp_path / "run/final_results.json").read_text())
    assert "AP50" in final["voc_segm"]


def test_bad_raw_input_names_the_file(tmp_path):
    voc, sbd = write_raw(tmp_path / "raw")
    scipy.io.savemat(sbd / "inst/2008_000002.mat", {"GTcls": {"Segmentation": np.zeros((H, W))}})
    with pytest.raises(ValueError, match=r"2008_000002\.mat: no 'GTinst'"):
        prepare.main(["--voc", str(voc), "--sbd", str(sbd), "--out", str(tmp_path / "o1")])
    _write_sbd_mat(sbd / "inst/2008_000002.mat", SBD_OBJECTS["2008_000002"])
    (voc / "SegmentationObject/2007_000039.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"2007_000039\.png: missing"):
        prepare.main(["--voc", str(voc), "--sbd", str(sbd), "--out", str(tmp_path / "o2")])
    with pytest.raises(FileNotFoundError, match=r"VOC2012/SegmentationClass: missing"):
        (voc / "SegmentationClass").rename(tmp_path / "elsewhere")
        prepare.main(["--voc", str(voc), "--sbd", str(sbd), "--out", str(tmp_path / "o3")])
