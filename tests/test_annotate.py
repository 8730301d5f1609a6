"""python -m box2mask.annotate end to end on a tiny set: methods, resume, bad inputs."""
import json
import shutil

import pytest
from pycocotools import mask as mask_utils

from box2mask import annotate
from tiny_model import write_tiny_model


def _run(*argv):
    return annotate.main([str(a) for a in argv])


def _masks(out):
    data = json.loads(out.read_text())
    return data, {a["id"]: mask_utils.decode(a["segmentation"]).astype(bool)
                  for a in data["annotations"]}


def test_evolution_keeps_everything_and_counts_every_box(coco_set, tmp_path, capsys):
    json_path, images = coco_set
    before = json_path.read_bytes()
    out = tmp_path / "masks.json"
    _run("--json", json_path, "--images", images, "--out", out, "--method", "evolution")
    assert json_path.read_bytes() == before  # input untouched
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "annotated 4 boxes: model 0, evolution 3, box 1")
    data, masks = _masks(out)
    original = json.loads(before)
    for ann, orig in zip(data["annotations"], original["annotations"]):
        assert {k: ann[k] for k in orig if k != "segmentation"} == {
            k: v for k, v in orig.items() if k != "segmentation"}
    sources = {a["id"]: a["box2mask_source"] for a in data["annotations"]}
    assert sources[3] == "box" and not masks[3].any()  # zero width: kept, empty, counted
    assert masks[1].any() and not masks[1][:, 25:].any()  # inside its box
    assert not masks[4][:50].any() and masks[4].shape == (64, 80)  # clipped to the image
    assert not (tmp_path / "masks.json.partial.jsonl").exists()


def test_box_and_grabcut(coco_set, tmp_path, capsys):
    json_path, images = coco_set
    _run("--json", json_path, "--images", images, "--out", tmp_path / "b.json", "--method", "box")
    assert capsys.readouterr().out.strip().endswith("model 0, evolution 0, box 4")
    _, masks = _masks(tmp_path / "b.json")
    assert masks[1].sum() == 400 and masks[1][10:30, 5:25].all()
    _run("--json", json_path, "--images", images, "--out", tmp_path / "g.json",
         "--method", "grabcut", "--workers", "2")
    data, _ = _masks(tmp_path / "g.json")
    assert {a["box2mask_source"] for a in data["annotations"]} <= {"grabcut", "box"}


def test_resume_after_an_interrupted_run(coco_set, tmp_path, capsys):
    json_path, images = coco_set
    out = tmp_path / "m.json"
    hidden = tmp_path / "hidden.png"
    shutil.move(images / "002.png", hidden)
    with pytest.raises(FileNotFoundError, match="002.png"):
        _run("--json", json_path, "--images", images, "--out", out, "--method", "evolution")
    side = tmp_path / "m.json.partial.jsonl"
    lines = side.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["image_id"] == 1  # image 1 saved
    assert not out.exists()
    side.write_text(side.read_text() + '{"image_id": 2, "mas')  # torn write: dropped
    with pytest.raises(ValueError, match="other settings"):
        _run("--json", json_path, "--images", images, "--out", out, "--method", "box")
    shutil.move(hidden, images / "002.png")
    _run("--json", json_path, "--images", images, "--out", out, "--method", "evolution")
    assert capsys.readouterr().out.strip().endswith("evolution 3, box 1")
    assert not side.exists() and len(json.loads(out.read_text())["annotations"]) == 4


def test_bad_inputs(coco_set, tmp_path):
    json_path, images = coco_set
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="bad.json.*annotations"):
        _run("--json", bad, "--images", images, "--out", tmp_path / "o.json", "--method", "box")
    with pytest.raises(ValueError, match="is the input"):
        _run("--json", json_path, "--images", images, "--out", json_path, "--method", "box")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _run("--json", json_path, "--images", tmp_path / "nowhere", "--out", tmp_path / "o.json",
             "--method", "box")
    with pytest.raises(ValueError, match="--config-file and --weights"):
        _run("--json", json_path, "--images", images, "--out", tmp_path / "o.json")
    existing = tmp_path / "exists.json"
    existing.write_text("user data")
    with pytest.raises(FileExistsError, match="exists.json"):
        _run("--json", json_path, "--images", images, "--out", existing, "--method", "box")
    assert existing.read_text() == "user data"
    data = json.loads(json_path.read_text())
    data["images"][0]["width"] = 81
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="001.png is 80x64"):
        _run("--json", wrong, "--images", images, "--out", tmp_path / "o.json", "--method", "box")


def test_model_and_auto(coco_set, tmp_path, capsys):
    json_path, images = coco_set
    config, weights = write_tiny_model(tmp_path / "model")
    for method in ("model", "auto"):
        out = tmp_path / f"{method}.json"
        _run("--json", json_path, "--images", images, "--out", out, "--method", method,
             "--config-file", config, "--weights", weights, "--score-threshold", "0.0",
             "--min-match-iou", "0.0")  # random weights: take any overlapping prediction
        data, masks = _masks(out)
        sources = [a["box2mask_source"] for a in data["annotations"]]
        allowed = {"model", "box"} if method == "model" else {"model", "evolution", "box"}
        assert set(sources) <= allowed and "model" in sources
        assert not masks[1][:, 25:].any()  # clipped to its box
