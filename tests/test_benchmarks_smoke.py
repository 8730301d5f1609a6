"""Benchmark scripts: helpers (fast) and a tiny end-to-end run of speed.py (slow)."""

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
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


@pytest.mark.parametrize("model", ["c", "t"])
def test_overfit_input_size_overrides_the_demo_config(model):
    overfit = _load("overfit")
    cfg = _load("accuracy").load_cfg(str(overfit.CONFIGS[model]))
    cfg.merge_from_list(overfit.input_size_opts(model, 640))
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == (640, 1066)
    if model == "t":
        assert cfg.INPUT.LSJ.IMAGE_SIZE == 640
    else:
        assert (tuple(cfg.INPUT.MIN_SIZE_TRAIN), cfg.INPUT.MAX_SIZE_TRAIN) == ((640,), 1066)


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


def test_prediction_overlap_counts_duplicates_and_best_iou():
    overlap = _load("prediction_overlap")
    masks = np.zeros((3, 10, 10), dtype=bool)
    masks[0, :5, :5] = True
    masks[1, :5, :4] = True  # IoU 0.8 with mask 0
    masks[2, 6:, 6:] = True
    rles = overlap.to_rles(masks)
    assert overlap.count_duplicates(rles, 0.5) == 2
    assert overlap.count_duplicates(rles, 0.9) == 0
    assert overlap.count_duplicates([], 0.5) == 0
    record = {
        "height": 10,
        "width": 10,
        "annotations": [{"segmentation": [[6, 6, 10, 6, 10, 10, 6, 10]]}],
    }
    iou = overlap.pairwise_iou(overlap.gt_rles(record), rles)
    assert iou.shape == (1, 3) and iou[0, 2] == pytest.approx(1.0, abs=0.2)
    assert iou[0, :2].max() == 0


def test_hole_fill_measures_the_covered_part_of_each_hole():
    holes = _load("hole_fill")
    overlap = _load("prediction_overlap")
    ring = np.zeros((1, 12, 12), dtype=bool)
    ring[0, 2:10, 2:10] = True
    ring[0, 4:8, 4:8] = False  # a 16-pixel hole
    solid = np.zeros((1, 12, 12), dtype=bool)
    solid[0, 0:2, 0:2] = True  # no hole: left out
    half = ring.copy()
    half[0, 4:8, 4:6] = True  # covers 8 of the hole's 16 pixels
    gt = list(overlap.to_rles(ring)) + list(overlap.to_rles(solid))
    assert holes.hole_fill(gt, list(overlap.to_rles(half))) == [pytest.approx(0.5)]
    assert holes.hole_fill(gt, []) == [0.0]


def test_hole_energy_tells_an_open_hole_from_a_painted_one():
    energy = _load("hole_energy")
    ring = np.zeros((1, 64, 64), dtype=bool)
    ring[0, 16:48, 16:48] = True
    ring[0, 24:40, 24:40] = False
    box = [[16.0, 16.0, 48.0, 48.0]]
    image = np.full((64, 64, 3), 50, dtype=np.uint8)
    image[ring[0]] = 200
    mean, std = [127.5] * 3, [50.0] * 3
    # The image shows the hole as background: filling it raises the energy.
    open_hole = energy.mask_and_filled_energy(image, ring, box, mean, std, stride=4, margin=1)
    assert open_hole[0, 1] > open_hole[0, 0]
    # The image paints the hole in the ring's colour: the filled-in mask fits it better.
    image[24:40, 24:40] = 200
    painted = energy.mask_and_filled_energy(image, ring, box, mean, std, stride=4, margin=1)
    assert painted[0, 1] < painted[0, 0]


def test_mask_threshold_override_per_model():
    sweep = _load("mask_threshold")
    key, value = sweep.threshold_override("Box2MaskT", 0.5)
    assert key == "MODEL.BOX2MASK_T.MASK_THRESHOLD" and value == pytest.approx(0.0)
    assert sweep.threshold_override("Box2MaskT", 0.7)[1] == pytest.approx(math.log(0.7 / 0.3))
    assert sweep.threshold_override("Box2MaskC", 0.7) == ["MODEL.BOX2MASK_C.MASK_THRESH", 0.7]
    with pytest.raises(ValueError, match="probability"):
        sweep.threshold_override("Box2MaskT", 1.0)


def test_mask_threshold_sweep_reaches_the_masks(coco_set, tmp_path):
    import json

    import pycocotools.mask as mask_util
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from box2mask import add_box2mask_config

    sweep = _load("mask_threshold")
    json_path, image_dir = coco_set
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml"))
    cfg.merge_from_list(["MODEL.EFFICIENTNET.PRETRAINED", "False", "MODEL.BOX2MASK.NUM_CLASSES",
                         "2", "INPUT.MIN_SIZE_TEST", "64", "DATALOADER.NUM_WORKERS", "0"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(cfg.dump())
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict()}, run / "model_final.pth")

    rows = sweep.main([str(run), "--dataset", "mt_set", "--thresholds", "0.3,0.9",
                       "--register-coco", "mt_set", str(json_path), str(image_dir)])
    assert [row[0] for row in rows] == [0.3, 0.9]
    areas = []
    for p in ("p0.30", "p0.90"):
        results = json.loads((run / "mask_threshold/mt_set" / p / "coco_instances_results.json")
                             .read_text())
        areas.append(sum(float(mask_util.area(r["segmentation"])) for r in results))
    assert areas[0] > areas[1]  # the same instances, thresholded higher


def test_hole_gradients_split_the_box_loss_into_its_terms():
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from box2mask import add_box2mask_config
    from box2mask.losses import BoxSupervisedMaskLoss

    hole_gradients = _load("hole_gradients")
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml"))
    cfg.MODEL.EFFICIENTNET.PRETRAINED = False
    term = build_model(cfg).criterion.mask_term
    h = w = 32
    image = torch.full((1, 3, h, w), -0.5)
    image[..., 8:24, 8:24] = 0.5
    image[..., 12:20, 12:20] = -0.5  # a ring whose hole shows the background
    logits = torch.full((h, w), -2.0)
    logits[8:24, 8:24] = 3.0  # the prediction fills the hole
    box = torch.tensor([[8.0, 8.0, 24.0, 24.0]])
    torch.manual_seed(0)
    guide = term.guide(torch.randn(1, cfg.MODEL.BOX2MASK_T.MASK_DIM, h, w))

    parts = hole_gradients.term_gradients(
        hole_gradients.single_term_losses(cfg), term, logits, box, image, guide
    )
    whole = hole_gradients.term_gradients(
        {"all": BoxSupervisedMaskLoss(cfg)}, term, logits, box, image, guide
    )["all"]
    assert set(parts) == set(hole_gradients.TERMS)
    assert torch.allclose(sum(parts.values()), whole, atol=1e-7)
    assert parts["image level set"][12:20, 12:20].mean() > 0  # descent lowers the hole's logits
