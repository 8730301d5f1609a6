"""train_net.py end to end on a tiny set: train, --resume, --eval-only, clear data errors."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("train_net", ROOT / "train_net.py")
train_net = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_net)

TINY = [
    "MODEL.EFFICIENTNET.PRETRAINED", "False",
    "MODEL.BOX2MASK.NUM_CLASSES", "2",
    "SOLVER.IMS_PER_BATCH", "2",
    "SOLVER.STEPS", "()",
    "SOLVER.WARMUP_ITERS", "1",
    "INPUT.MIN_SIZE_TRAIN", "(64,)",
    "INPUT.MIN_SIZE_TEST", "64",
    "DATALOADER.NUM_WORKERS", "0",
    "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False",
]


def _run(out_dir, json_path, image_dir, *extra, max_iter=2, name="tn_set"):
    argv = [
        "--config-file", str(ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"),
        "--register-coco", name, str(json_path), str(image_dir),
        *[a for a in extra if a.startswith("--")],
        *TINY, "SOLVER.MAX_ITER", str(max_iter), "OUTPUT_DIR", str(out_dir),
        "DATASETS.TRAIN", f"('{name}',)", "DATASETS.TEST", f"('{name}',)",
        *[a for a in extra if not a.startswith("--")],
    ]
    return train_net.main(train_net.argument_parser().parse_args(argv))


def test_train_resume_eval_only(coco_set, tmp_path):
    torch.manual_seed(0)
    json_path, image_dir = coco_set
    out = tmp_path / "run"
    results = _run(out, json_path, image_dir)
    assert {"bbox", "segm"} <= set(results)
    assert (out / "model_final.pth").exists()
    assert "AP" in json.loads((out / "final_results.json").read_text())["segm"]

    resumed = _run(out, json_path, image_dir, "--resume", max_iter=3)
    assert "segm" in resumed
    assert "iter: 2" in (out / "log.txt").read_text()  # continued from iteration 2

    # Evaluating needs no training set: one that is not registered here does not stop it.
    evaluated = _run(out, json_path, image_dir, "--eval-only",
                     "MODEL.WEIGHTS", str(out / "model_final.pth"),
                     "DATASETS.TRAIN", "('tn_registered_elsewhere',)")
    assert set(evaluated["segm"]) >= {"AP", "AP50", "AP75"}


def test_num_classes_mismatch_names_the_data_set(coco_set, tmp_path):
    json_path, image_dir = coco_set
    with pytest.raises(ValueError, match="data set 'tn_bad' has 2 classes"):
        _run(tmp_path / "bad", json_path, image_dir, "MODEL.BOX2MASK.NUM_CLASSES", "5",
             name="tn_bad")
