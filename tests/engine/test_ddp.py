"""Training over several CPU processes (gloo, detectron2's launch wrapped): 2 processes of batch
1 reach the weights of 1 process of batch 2 after 3 SGD steps, for both models.

Both criteria all-reduce the instance count that normalises their losses (Box2Mask-T: the
matched instances; Box2Mask-C: the positive cells, for the focal loss and the mask losses);
what remains are per-image normalisations: with the demo configs' loss (histogram energy, BCE
beyond the ring) the two runs differ by 2e-6 of the update for Box2Mask-T and 1.5 % for
Box2Mask-C (0.25 % with the mean-colour image term; 27.9 % when C's mask losses averaged over
each process's own positives). Which per-image term of C's leaves the 1.5 % is not found.
"""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
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


# Per model: the config and input options that make the augmentation deterministic (each
# process has its own generator): images kept at 64 × 80, no flip.
MODELS = {
    "t": ("box2mask_t_effnet_lite0.yaml",
          ["INPUT.LSJ.IMAGE_SIZE", "64", "INPUT.LSJ.MIN_SCALE", "1.0", "INPUT.LSJ.MAX_SCALE",
           "1.0"]),
    "c": ("box2mask_c_effnet_lite0.yaml", ["INPUT.MAX_SIZE_TRAIN", "80"]),
}


def _argv(model, out, json_path, image_dir, *opts):
    config, inputs = MODELS[model]
    return [
        "--config-file", str(ROOT / "configs/demo" / config),
        "--register-coco", f"ddp_{model}", str(json_path), str(image_dir),
        "MODEL.EFFICIENTNET.PRETRAINED", "False", "MODEL.BOX2MASK.NUM_CLASSES", "1",
        # SGD: the update is proportional to the gradient (AdamW would hide differences)
        "SOLVER.OPTIMIZER", "SGD", "SOLVER.BASE_LR", "0.01", "SOLVER.CLIP_GRADIENTS.ENABLED",
        "False", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "3", "SOLVER.STEPS", "()",
        "SOLVER.WARMUP_ITERS", "0", "SOLVER.CHECKPOINT_PERIOD", "100",
        "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.RANDOM_FLIP", "none", *inputs,
        "DATALOADER.NUM_WORKERS", "0", "DATASETS.TRAIN", f"('ddp_{model}',)",
        "DATASETS.TEST", "()",
        "TEST.EVAL_PERIOD", "0", "SEED", "3", "OUTPUT_DIR", str(out), *opts,
    ]


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


# relative weight difference allowed, with a margin over what each model measures
TOLERANCE = {"c": 3e-2, "t": 1e-3}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_two_cpu_processes_match_one_process_of_twice_the_batch(tmp_path, model):
    json_path, image_dir = _two_images(tmp_path)

    def argv(out, *opts):
        return _argv(model, tmp_path / out, json_path, image_dir, *opts)

    launch(_train, 1, args=(argv("init", "SOLVER.BASE_LR", "0.0"),))
    launch(_train, 1, args=(argv("one"),))
    launch(_train, 2, dist_url="auto", args=(argv("two"),))
    init, one, two = (_weights(tmp_path / f"{d}/model_final.pth") for d in ("init", "one", "two"))
    keys = [k for k in init if init[k].is_floating_point()]
    update = torch.cat([(one[k] - init[k]).double().flatten() for k in keys])
    difference = torch.cat([(two[k] - one[k]).double().flatten() for k in keys])
    relative = (difference.norm() / update.norm()).item()
    print(f"Box2Mask-{model.upper()}: |w2 - w1| / |w1 - w0| after 3 steps: {relative:.3g} "
          f"(update norm {update.norm():.3g})", file=sys.stderr)
    assert update.norm() > 0 and relative < TOLERANCE[model], relative
