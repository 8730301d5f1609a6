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


def _strict_load(path):
    def refuse(name):
        raise ValueError(f"{path} holds {name}: not strict JSON")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def test_validation_set_without_masks_evaluates_boxes(tmp_path):
    from conftest import write_coco_set

    json_path, image_dir = write_coco_set(tmp_path, with_masks=False)
    # an untrained model that predicts instances (pycocotools failed on them without masks):
    # every cell scores 0.5 and every mask covers the image
    results = _run(tmp_path / "run", json_path, image_dir, "MODEL.BOX2MASK_C.PRIOR_PROB", "0.5",
                   "MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD", "0.0", "SEED", "0",
                   name="tn_boxes_only")
    assert json.loads((tmp_path / "run/inference/tn_boxes_only/coco_instances_results.json")
                      .read_text())
    assert "bbox" in results and "segm" not in results
    assert "AP" in _strict_load(tmp_path / "run/final_results.json")["bbox"]


def test_eval_only_refuses_weights_of_another_model_or_none(coco_set, tmp_path):
    json_path, image_dir = coco_set
    other = tmp_path / "other.pth"
    torch.save({"model": {"pixel_decoder.weight": torch.zeros(3)}}, other)
    for weights in (str(other), ""):
        with pytest.raises(ValueError, match="0 of the model's .* were loaded from MODEL.WEIGHTS"):
            _run(tmp_path / "eval", json_path, image_dir, "--eval-only", "MODEL.WEIGHTS", weights,
                 name="tn_eval_refuse")
    assert not (tmp_path / "eval/final_results.json").exists()


def test_final_results_are_strict_json():
    from box2mask.engine import strict_json

    results = {"segm": {"AP": 1.5, "AP-b": float("nan"), "AR": [float("inf"), 2]}}
    assert strict_json(results) == {"segm": {"AP": 1.5, "AP-b": None, "AR": [None, 2]}}


def test_default_output_dir_per_data_set(coco_set, tmp_path):
    from conftest import write_coco_set

    from box2mask.engine import load_config

    json_path, image_dir = coco_set
    other_json, other_images = write_coco_set(tmp_path / "other")
    base = ["--config-file", str(ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"), *TINY]
    dirs = []
    for name, json_file, images in (("tn_dir_a", json_path, image_dir),
                                    ("tn_dir_b", other_json, other_images)):
        args = train_net.argument_parser().parse_args(
            [*base[:2], "--register-coco", name, str(json_file), str(images), *base[2:],
             "DATASETS.TRAIN", f"('{name}',)", "DATASETS.TEST", f"('{name}',)"])
        dirs.append(load_config(args).OUTPUT_DIR)
    assert dirs[0] != dirs[1]
    assert all(Path(d).parent == Path("output/demo/box2mask_c_effnet_lite0") for d in dirs)
    assert Path(dirs[0]).name.startswith("tn_dir_a-")
    # the config's own data sets keep the config's folder
    args = train_net.argument_parser().parse_args(base)
    assert load_config(args).OUTPUT_DIR == "output/demo/box2mask_c_effnet_lite0"


def test_resume_refuses_a_checkpoint_of_other_classes(coco_set, tmp_path):
    json_path, image_dir = coco_set
    out = tmp_path / "shared"
    _run(out, json_path, image_dir, "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()",
         name="tn_classes_a")
    data = json.loads(json_path.read_text())
    data["categories"] = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"trained on the classes \[\['a', 'b'\]\]"):
        _run(out, renamed, image_dir, "--resume", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()",
             max_iter=4, name="tn_classes_b")


def test_own_data_config_asks_for_the_training_set(tmp_path):
    argv = ["--config-file", str(ROOT / "configs/own/box2mask_c_effnet_lite0.yaml"),
            "OUTPUT_DIR", str(tmp_path / "own")]  # fmt: skip
    with pytest.raises(ValueError, match="DATASETS.TRAIN is empty"):
        train_net.main(train_net.argument_parser().parse_args(argv))
