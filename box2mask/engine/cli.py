"""The command line of ``train_net.py``: detectron2's argument parser plus ``--register-coco``,
set-up, and train / evaluate.

    python train_net.py --config-file configs/demo/box2mask_c_effnet_lite0.yaml
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS model_final.pth
    python train_net.py --config-file CFG --register-coco mine train.json images/ \\
        DATASETS.TRAIN "('mine',)" MODEL.BOX2MASK.NUM_CLASSES 3
"""
import hashlib
import json
import logging
import math
import os

import detectron2.utils.comm as comm
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import verify_results
from detectron2.utils.logger import setup_logger

from ..config import add_box2mask_config
from ..data import register_box_coco
from ..data.builtin import generate_missing_builtins
from .checkpoint import Box2MaskCheckpointer
from .trainer import Trainer

__all__ = [
    "add_register_coco_argument",
    "argument_parser",
    "check_num_classes",
    "check_weights_loaded",
    "default_output_dir",
    "load_config",
    "main",
    "register_coco_sets",
    "setup",
    "strict_json",
]


def load_config(args):
    """The frozen config of ``args`` (the sets of ``--register-coco`` registered); when the
    command line changes the data sets but not ``OUTPUT_DIR``, the output folder is
    :func:`default_output_dir` (one per data set)."""
    register_coco_sets(args.register_coco)
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(args.config_file)
    config_sets = (cfg.DATASETS.TRAIN, cfg.DATASETS.TEST)
    cfg.merge_from_list(args.opts)
    sets_changed = (cfg.DATASETS.TRAIN, cfg.DATASETS.TEST) != config_sets
    if "OUTPUT_DIR" not in args.opts[::2] and sets_changed:
        cfg.OUTPUT_DIR = default_output_dir(cfg)
    if not torch.cuda.is_available() and cfg.MODEL.DEVICE.startswith("cuda"):
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def setup(args):
    """:func:`load_config` and detectron2's ``default_setup`` (output folder, logs, seed); the
    ``box2mask`` loggers write to the console and the run's log as detectron2's do."""
    cfg = load_config(args)
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, comm.get_rank(), name="box2mask", abbrev_name="b2m")
    return cfg


def default_output_dir(cfg) -> str:
    """``<config's OUTPUT_DIR>/<training sets>-<hash>``, the hash of the sets' names and json
    files (absolute paths): two runs on different data never share a folder."""
    names = (*cfg.DATASETS.TRAIN, "|", *cfg.DATASETS.TEST)
    files = [os.path.abspath(f) for n in names if (f := MetadataCatalog.get(n).get("json_file"))]
    digest = hashlib.sha1("\n".join((*names, *files)).encode()).hexdigest()[:8]
    stem = "+".join(cfg.DATASETS.TRAIN or cfg.DATASETS.TEST)
    return os.path.join(cfg.OUTPUT_DIR, f"{stem}-{digest}")


def check_num_classes(cfg, eval_only: bool = False) -> None:
    """Fail early, naming the data set, when MODEL.BOX2MASK.NUM_CLASSES does not match it (only
    the test sets with ``eval_only``: evaluating needs no training set registered)."""
    if not eval_only and not cfg.DATASETS.TRAIN:
        raise ValueError(
            "DATASETS.TRAIN is empty: name the training set(s), e.g. --register-coco mine_train "
            "train.json images/ DATASETS.TRAIN \"('mine_train',)\""
        )
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
    if comm.is_main_process():
        used = cfg.DATASETS.TEST if args.eval_only else cfg.DATASETS.TRAIN + cfg.DATASETS.TEST
        generate_missing_builtins(used)
    comm.synchronize()
    check_num_classes(cfg, args.eval_only)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        checkpointer = Box2MaskCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        check_weights_loaded(checkpointer, cfg.MODEL.WEIGHTS)
        results = Trainer.test(cfg, model)
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        results = getattr(trainer, "_last_eval_results", {})  # set by the final EvalHook
    if comm.is_main_process() and results:
        verify_results(cfg, results)
        path = os.path.join(cfg.OUTPUT_DIR, "final_results.json")
        with open(path, "w") as f:
            json.dump(strict_json(results), f, indent=2, allow_nan=False)
        logging.getLogger("box2mask").info(f"Wrote {path}")
    return results


def check_weights_loaded(checkpointer: Box2MaskCheckpointer, weights: str) -> None:
    """Refuse to evaluate a model that its weights did not mostly fill (another model's
    checkpoint, or none: a random model's AP is no result)."""
    if checkpointer.loaded * 2 < checkpointer.expected:
        raise ValueError(
            f"--eval-only: {checkpointer.loaded} of the model's {checkpointer.expected} "
            f"parameters and buffers were loaded from MODEL.WEIGHTS {weights!r} (or the last "
            "checkpoint with --resume); give the weights of this model"
        )


def strict_json(value):
    """``value`` with every NaN or infinite float replaced by None (strict JSON; detectron2
    reports the AP of a class without ground truth as NaN)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
