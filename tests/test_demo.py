"""demo.py: files, folders and globs in; overlays and results.json out; inputs never touched."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import demo  # noqa: E402
from tiny_model import write_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny"))


def _images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    return [folder / n for n in names]


def _run(tiny, inputs, output, *extra):
    config, weights = tiny
    argv = ["--config-file", str(config), "--input", *map(str, inputs), "--output", str(output),
            "--confidence-threshold", "0.0", "--device", "cpu", *extra,
            "--opts", "MODEL.WEIGHTS", str(weights)]
    return demo.main(argv)


def test_same_stems_unreadable_file_and_output_in_the_input_folder(tiny, tmp_path, caplog):
    folder = tmp_path / "imgs"
    _images(folder, ["a.png", "a.jpg", "b.png"])
    (folder / "broken.png").write_bytes(b"no image")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    _run(tiny, [folder], folder)  # output = the input folder
    assert any("broken.png" in r.message for r in caplog.records)  # a warning naming it
    written = sorted(p.name for p in folder.glob("*_pred.png"))
    assert written == ["a_jpg_pred.png", "a_png_pred.png", "b_pred.png"]
    for name, data in before.items():
        assert (folder / name).read_bytes() == data  # inputs untouched
    results = json.loads((folder / "results.json").read_text())
    assert {r["file_name"] for r in results} <= {str(folder / n) for n in ("a.png", "a.jpg", "b.png")}
    assert all(r["score"] >= 0.0 and "segmentation" in r for r in results)
    # A rerun refuses to replace its outputs, and never takes its overlays as inputs.
    with pytest.raises(FileExistsError, match="--overwrite"):
        _run(tiny, [folder], folder)
    _run(tiny, [folder], folder, "--overwrite")
    assert sorted(p.name for p in folder.glob("*_pred.png")) == written


def test_globs_and_missing_inputs(tiny, tmp_path):
    _images(tmp_path / "x", ["c.png", "d.jpg"])
    _run(tiny, [str(tmp_path / "x" / "*.png")], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c_pred.png", "results.json"]
    with pytest.raises(FileNotFoundError, match="nothing"):
        _run(tiny, [tmp_path / "nothing"], tmp_path / "out2")


def test_an_input_is_never_an_output(tiny, tmp_path):
    # e.png's overlay would be e_pred.png, itself an input given by name.
    inputs = _images(tmp_path, ["e.png", "e_pred.png"])
    data = inputs[1].read_bytes()
    with pytest.raises(FileExistsError, match="is an input"):
        _run(tiny, inputs, tmp_path, "--overwrite")
    assert inputs[1].read_bytes() == data
