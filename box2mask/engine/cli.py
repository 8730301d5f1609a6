"""The command line of ``train_net.py``: detectron2's argument parser plus ``--register-coco``,
set-up, and train / evaluate.

    python train_net.py --config-file configs/demo/box2mask_c_effnet_lite0.yaml
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS model_final.pth
    python train_net.py --config-file CFG --register-coco mine train.json images/ \\
        DATASETS.TRAIN "('mine',)" MODEL.BOX2MASK.NUM_CLASSES 3
"""
import json
import logging
import os

import detectron2.utils.comm as comm
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import verify_results

from ..config import add_box2mask_config
from ..data import register_box_coco
from .trainer import Trainer

__all__ = [
    "add_register_coco_argument",
    "argument_parser",
    "check_num_classes",
    "main",
    "register_coco_sets",
    "setup",
]


def setup(args):
    register_coco_sets(args.register_coco)
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    if not torch.cuda.is_available() and cfg.MODEL.DEVICE.startswith("cuda"):
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def check_num_classes(cfg, eval_only: bool = False) -> None:
    """Fail early, naming the data set, when MODEL.BOX2MASK.NUM_CLASSES does not match it (only
    the test sets with ``eval_only``: evaluating needs no training set registered)."""
    for name in (*(() if eval_only else cfg.DATASETS.TRAIN), *cfg.DATASETS.TEST):
        DatasetCatalog.get(name)  # loading sets thing_classes
        classes = MetadataCatalog.get(name).get("thing_classes")
        if classes is not None and len(classes) != cfg.MODEL.BOX2MASK.NUM_CLASSES:
            raise ValueError(
                f"data set '{name}' has {len(classes)} classes {list(classes)[:5]}..., but "
                f"MODEL.BOX2MASK.NUM_CLASSES is {cfg.MODEL.BOX2MASK.NUM_CLASSES}: set it to "
                f"{len(classes)}"
            )


def main(args):
    cfg = setup(args)
    check_num_classes(cfg, args.eval_only)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = Trainer.test(cfg, model)
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        results = getattr(trainer, "_last_eval_results", {})  # set by the final EvalHook
    if comm.is_main_process() and results:
        verify_results(cfg, results)
        with open(os.path.join(cfg.OUTPUT_DIR, "final_results.json"), "w") as f:
            json.dump(results, f, indent=2)
        logging.getLogger("box2mask").info(f"Wrote {cfg.OUTPUT_DIR}/final_results.json")
    return results


def add_register_coco_argument(parser):
    """``--register-coco NAME JSON IMAGE_DIR`` (repeatable) on an argparse parser; see
    :func:`register_coco_sets`."""
    parser.add_argument(
        "--register-coco",
        nargs=3,
        action="append",
        metavar=("NAME", "JSON", "IMAGE_DIR"),
        help="register a COCO-format set (masks optional) under NAME; repeatable",
    )
    return parser


def register_coco_sets(register_coco) -> None:
    """Registers the sets of ``--register-coco`` (a list of (name, json, image_dir) or None)."""
    for name, json_file, image_root in register_coco or ():
        register_box_coco(name, json_file, image_root)


def argument_parser():
    return add_register_coco_argument(default_argument_parser())
