"""Benchmark scripts: helpers (fast) and a tiny end-to-end run of speed.py (slow)."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_accuracy_schedule_scales_steps_and_warmup():
    accuracy = _load("accuracy")
    opts = accuracy.schedule_opts(str(ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"), 100)
    pairs = dict(zip(opts[::2], opts[1::2]))
    # demo C: 800 iterations, steps (600, 740), warm-up 50.
    assert pairs["SOLVER.MAX_ITER"] == "100"
    assert pairs["SOLVER.STEPS"] == "(75, 92)"
    assert pairs["SOLVER.WARMUP_ITERS"] == "6"
    assert pairs["TEST.EVAL_PERIOD"] == "0"


def test_accuracy_table_helpers(tmp_path):
    accuracy = _load("accuracy")
    rows = {
        "box-fill": {"AP": 10.0, "AP50": 36.0, "AP75": 1.0},
        "c-box": {"AP": 30.0, "AP50": 60.0, "AP75": math.nan},
        "c-mask": {"AP": 40.0, "AP50": 70.0, "AP75": 40.0},
    }
    assert accuracy.ratio(rows, "c-box", "c-mask") == pytest.approx(0.75)
    assert math.isnan(accuracy.ratio(rows, "t-box", "t-mask"))
    tiny = {"t-box": {"AP": 0.02}, "t-mask": {"AP": 0.01}}
    assert math.isnan(accuracy.ratio(tiny, "t-box", "t-mask"))  # near-zero APs: no ratio
    accuracy.bar_chart(rows, tmp_path / "chart.png", "test")
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_accuracy_reuses_a_run_only_with_the_same_spec(tmp_path):
    import argparse
    import json

    accuracy = _load("accuracy")
    args = argparse.Namespace(
        c_config=str(ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"),
        t_config=str(ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml"),
        iters=100, t_iters=50, opts=[], test_set="synthetic_val",
    )  # fmt: skip
    spec = accuracy.training_spec("t-mask", args)
    assert spec["config"] == "configs/demo/box2mask_t_effnet_lite0.yaml"
    assert "50" in spec["opts"] and "MODEL.BOX2MASK.SUPERVISION" in spec["opts"]
    assert not accuracy.finished("c-box", args, tmp_path)
    (tmp_path / "final_results.json").write_text("{}")
    assert not accuracy.finished("c-box", args, tmp_path)  # no run.json: not reused
    (tmp_path / "run.json").write_text(json.dumps(accuracy.training_spec("c-box", args)))
    assert accuracy.finished("c-box", args, tmp_path)
    args.iters = 200
    assert not accuracy.finished("c-box", args, tmp_path)  # other schedule: redone
    args.iters = 100
    args.test_set = "synthetic_test"
    assert not accuracy.finished("c-box", args, tmp_path)  # other evaluation set: redone
    assert "('synthetic_test',)" in accuracy.training_spec("c-box", args)["opts"]
    (tmp_path / "run.json").write_text(json.dumps(accuracy.run_spec("box-fill", args)))
    assert accuracy.finished("box-fill", args, tmp_path)  # baselines: only the set matters
    args.iters = 200
    assert accuracy.finished("box-fill", args, tmp_path)
    args.test_set = "synthetic_val"
    assert not accuracy.finished("box-fill", args, tmp_path)

    # the same config path with edited content is redone
    args.iters = 100
    edited = tmp_path / "edited.yaml"
    edited.write_text(f"_BASE_: {args.c_config}\n")
    args.c_config = str(edited)
    (tmp_path / "run.json").write_text(json.dumps(accuracy.training_spec("c-box", args)))
    assert accuracy.finished("c-box", args, tmp_path)
    edited.write_text(edited.read_text() + "\nSOLVER:\n  BASE_LR: 0.123\n")
    assert not accuracy.finished("c-box", args, tmp_path)


def test_accuracy_dev_sets_train_on_their_own_split(tmp_path):
    import argparse
    import json

    import numpy as np
    from pycocotools import mask as mask_utils

    accuracy = _load("accuracy")
    args = argparse.Namespace(
        c_config=str(ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"),
        t_config=str(ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml"),
        iters=100, t_iters=50, opts=[], test_set="synthetic_test", num_classes=4,
    )  # fmt: skip
    opts = accuracy.training_spec("c-box", args)["opts"]
    assert "MODEL.BOX2MASK.NUM_CLASSES" not in opts and "DATASETS.TRAIN" not in opts
    args.test_set, args.num_classes = "microscopy_val", 1
    pairs = dict(zip(*[iter(accuracy.training_spec("c-box", args)["opts"])] * 2))
    assert pairs["DATASETS.TRAIN"] == "('microscopy_train',)"
    assert pairs["MODEL.BOX2MASK.NUM_CLASSES"] == "1"
    assert pairs["DATASETS.TEST"] == "('microscopy_val',)"
    pairs = dict(zip(*[iter(accuracy.training_spec("t-mask", args)["opts"])] * 2))
    assert pairs["DATASETS.TRAIN"] == "('microscopy_train_masks',)"
    assert accuracy.TRAIN_SETS["real_photos_val"] == "copypaste_train"
    assert set(accuracy.TEST_SETS) >= {"textured_val", "copypaste_val", "real_photos_val"}

    # polarity of a run: read from its inference results; an inverted mask scores 0
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode()
    inverted = np.zeros_like(mask)
    inverted[4:16, 4:16] = 1
    inverted[6:14, 6:14] = 0
    inv = mask_utils.encode(np.asfortranarray(inverted))
    inv["counts"] = inv["counts"].decode()
    gt = {
        "images": [{"id": 1, "file_name": "a.png", "height": 20, "width": 20}],
        "categories": [{"id": 1, "name": "nucleus"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 12, 12],
                         "segmentation": rle, "area": 100, "iscrowd": 0}],
    }  # fmt: skip
    (tmp_path / "val.json").write_text(json.dumps(gt))
    inference = tmp_path / "c-box" / "inference" / "microscopy_val"
    inference.mkdir(parents=True)
    results = [{"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": inv}]
    (inference / "coco_instances_results.json").write_text(json.dumps(results))
    paths = {"test_json": str(tmp_path / "val.json")}
    polarity = accuracy.run_polarity("c-box", args, paths, tmp_path / "c-box")
    assert 0.0 < polarity < 0.5  # the ring lies mostly outside the 10 x 10 object
    assert math.isnan(accuracy.run_polarity("box-fill", args, paths, tmp_path / "box-fill"))
    with pytest.raises(FileNotFoundError):
        accuracy.run_polarity("t-box", args, paths, tmp_path / "t-box")


def test_speed_buckets_wrap_and_restore():
    speed = _load("speed")
    conv = torch.nn.Conv2d(1, 1, 1)
    buckets = speed.Buckets()
    buckets.wrap(conv, "forward", "conv")
    conv(torch.zeros(1, 1, 2, 2))
    conv(torch.zeros(1, 1, 2, 2))
    assert buckets.seconds["conv"] > 0
    buckets.restore()
    assert "forward" not in conv.__dict__
    conv(torch.zeros(1, 1, 2, 2))
    assert set(buckets.seconds) == {"conv"}


@pytest.mark.slow
def test_speed_script_tiny_run():
    cmd = [sys.executable, str(ROOT / "benchmarks/speed.py"), "--sizes", "64", "--repeats", "1"]
    cmd += ["--no-memory", "--load", "network", "--threads", "1"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1].split()
    assert last[0] == "c_vs_maskrcnn" and float(last[1]) > 0


def test_msdeform_attn_benchmark_rows_on_cpu():
    rows = _load("bench_msdeform_attn").main(["--size", "64", "--repeat", "1", "--threads", "1"])
    assert [(r["case"], r["threads"]) for r in rows] == [("64x64", 1)]
    assert rows[0]["op_ms"] > 0 and rows[0]["speedup"] == pytest.approx(
        rows[0]["ref_ms"] / rows[0]["op_ms"]
    )


def test_gpu_check_table_helpers(tmp_path):
    gpu_check = _load("gpu_check")
    log = "..s.\n=== short test summary info ===\nSKIPPED [1] x: no CUDA device\n"
    log += "3 passed, 1 skipped in 2.1s"
    assert gpu_check.pytest_summary(log) == "3 passed, 1 skipped"
    assert gpu_check.pytest_summary("=== 2 failed, 5 passed in 9.0s ===") == "2 failed, 5 passed"
    metrics = tmp_path / "metrics.json"
    records = [{"iteration": 19, "time": 9.0}, {"iteration": 39, "time": 0.2},
               {"iteration": 59, "time": 0.25}, {"iteration": 79, "time": 0.3}]  # fmt: skip
    metrics.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert gpu_check.iterations_per_second(metrics) == pytest.approx(4.0)  # 19: warm-up, left out
    rows = gpu_check.op_rows("tree filter", [dict(case="96x96", threads="-", learn_guide=True,
                                                  op_ms=1.0, ref_ms=30.0, speedup=30.0)])
    assert rows == [("tree filter: 96x96, learn_guide=True, forward + backward",
                     "op 1.00 ms, reference 30.00 ms (30.0x)")]  # fmt: skip
    table = gpu_check.markdown(rows)
    assert table.splitlines()[:2] == ["| check | result |", "|---|---|"]
    assert table.splitlines()[2].startswith("| tree filter: 96x96") and table.endswith("|\n")
