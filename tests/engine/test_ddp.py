"""Training over several CPU processes (gloo, detectron2's launch wrapped): 2 processes of batch
1 reach the weights of 1 process of batch 2 after 3 steps.

Box2Mask-T: its criterion all-reduces the instance count that normalises its losses; what
remains are per-image normalisations (0.33 % of the update here). Box2Mask-C normalises its
losses by each process's own positives, so there the two differ by 29 % of the update.
"""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from box2mask.engine import argument_parser, launch, main

ROOT = Path(__file__).resolve().parents[2]


def _train(argv):
    main(argument_parser().parse_args(argv))


def _two_images(root: Path):
    """Two 64 × 80 images with one 30 × 30 box each."""
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i, (x, y) in enumerate(((10, 10), (40, 20)), start=1):
        image = rng.integers(0, 60, (64, 80, 3), dtype=np.uint8)
        image[y : y + 30, x : x + 30] += 150
        cv2.imwrite(str(root / f"images/{i}.png"), image)
        images.append({"id": i, "file_name": f"{i}.png", "height": 64, "width": 80})
        annotations.append({"id": i, "image_id": i, "bbox": [x, y, 30, 30], "category_id": 1,
                            "iscrowd": 0, "area": 900})
    path = root / "two.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "square"}]}))
    return path, root / "images"


def _argv(out, json_path, image_dir, *opts):
    return [
        "--config-file", str(ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml"),
        "--register-coco", "ddp_set", str(json_path), str(image_dir),
        "MODEL.EFFICIENTNET.PRETRAINED", "False", "MODEL.BOX2MASK.NUM_CLASSES", "1",
        # SGD: the update is proportional to the gradient (AdamW would hide differences)
        "SOLVER.OPTIMIZER", "SGD", "SOLVER.BASE_LR", "0.01", "SOLVER.CLIP_GRADIENTS.ENABLED",
        "False", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "3", "SOLVER.STEPS", "()",
        "SOLVER.WARMUP_ITERS", "0", "SOLVER.CHECKPOINT_PERIOD", "100",
        "INPUT.LSJ.IMAGE_SIZE", "64", "INPUT.LSJ.MIN_SCALE", "1.0", "INPUT.LSJ.MAX_SCALE", "1.0",
        # no augmentation randomness: each process has its own generator
        "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.RANDOM_FLIP", "none",
        "DATALOADER.NUM_WORKERS", "0", "DATASETS.TRAIN", "('ddp_set',)", "DATASETS.TEST", "()",
        "TEST.EVAL_PERIOD", "0", "SEED", "3", "OUTPUT_DIR", str(out), *opts,
    ]


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_two_cpu_processes_match_one_process_of_twice_the_batch(tmp_path):
    json_path, image_dir = _two_images(tmp_path)
    init_argv = _argv(tmp_path / "init", json_path, image_dir, "SOLVER.BASE_LR", "0.0")
    launch(_train, 1, args=(init_argv,))
    launch(_train, 1, args=(_argv(tmp_path / "one", json_path, image_dir),))
    launch(_train, 2, dist_url="auto", args=(_argv(tmp_path / "two", json_path, image_dir),))
    init, one, two = (_weights(tmp_path / f"{d}/model_final.pth") for d in ("init", "one", "two"))
    keys = [k for k in init if init[k].is_floating_point()]
    update = torch.cat([(one[k] - init[k]).double().flatten() for k in keys])
    difference = torch.cat([(two[k] - one[k]).double().flatten() for k in keys])
    relative = (difference.norm() / update.norm()).item()
    print(f"|w2 - w1| / |w1 - w0| after 3 steps: {relative:.3g} "
          f"(update norm {update.norm():.3g})", file=sys.stderr)
    assert update.norm() > 0 and relative < 1e-2, relative
