#!/usr/bin/env python
"""Train and evaluate Box2Mask with detectron2's trainer.

    python train_net.py --config-file configs/demo/box2mask_c_effnet_lite0.yaml
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS model_final.pth
    python train_net.py --config-file CFG --register-coco mine train.json images/ \
        DATASETS.TRAIN "('mine',)" MODEL.BOX2MASK.NUM_CLASSES 3

Box-supervised: the data mapper passes boxes and classes only (masks only when
``MODEL.BOX2MASK.SUPERVISION mask``); evaluation uses COCO mask AP on sets with masks.
"""
import json
import logging
import os

import detectron2._C as d2_C
import detectron2.utils.comm as comm
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import (
    DatasetCatalog,
    MetadataCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
)
from detectron2.engine import DefaultTrainer, default_argument_parser, default_setup, launch
from detectron2.evaluation import COCOEvaluator, verify_results
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

import box2mask  # noqa: F401  (registers data sets, meta-architectures, backbones)
from box2mask import BoxSupervisedDatasetMapper, add_box2mask_config, register_box_coco

# detectron2 built without its compiled ops has a pure-Python stand-in `_C` module.
HAS_FAST_COCO_EVAL = not getattr(d2_C, "__file__", "").endswith(".py")


class Trainer(DefaultTrainer):
    """DefaultTrainer with the box-supervised mapper, COCO evaluation and AdamW."""

    @classmethod
    def build_train_loader(cls, cfg):
        return build_detection_train_loader(cfg, mapper=BoxSupervisedDatasetMapper(cfg, True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(
            cfg, dataset_name, mapper=BoxSupervisedDatasetMapper(cfg, False)
        )

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return COCOEvaluator(
            dataset_name,
            tasks=("bbox", "segm"),
            output_dir=output_folder,
            use_fast_impl=HAS_FAST_COCO_EVAL,
        )

    @classmethod
    def build_optimizer(cls, cfg, model):
        params = get_default_optimizer_params(
            model,
            base_lr=cfg.SOLVER.BASE_LR,
            weight_decay=cfg.SOLVER.WEIGHT_DECAY,
            weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
        )
        if cfg.SOLVER.BACKBONE_MULTIPLIER != 1.0:
            backbone = {id(p) for n, p in model.named_parameters() if n.startswith("backbone.")}
            for group in params:
                if id(group["params"][0]) in backbone:
                    group["lr"] = group["lr"] * cfg.SOLVER.BACKBONE_MULTIPLIER
        name = cfg.SOLVER.OPTIMIZER.upper()
        if name == "ADAMW":
            optim, kwargs = torch.optim.AdamW, {"betas": (0.9, 0.999)}
        elif name == "SGD":
            optim, kwargs = torch.optim.SGD, {"momentum": cfg.SOLVER.MOMENTUM}
        else:
            raise ValueError(f"SOLVER.OPTIMIZER must be ADAMW or SGD, got {cfg.SOLVER.OPTIMIZER!r}")
        clip = cfg.SOLVER.CLIP_GRADIENTS
        if clip.ENABLED and clip.CLIP_TYPE == "full_model":
            optim = with_full_model_clipping(optim, clip.CLIP_VALUE)
        else:
            optim = maybe_add_gradient_clipping(cfg, optim)
        return optim(params, lr=cfg.SOLVER.BASE_LR, **kwargs)


def with_full_model_clipping(optim_cls, max_norm: float):
    """``optim_cls`` whose ``step`` first clips the gradient norm of all parameters together
    (detectron2's own clipping is per parameter)."""

    class FullModelGradientClipping(optim_cls):
        def step(self, closure=None):
            params = [p for group in self.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, max_norm)
            return super().step(closure=closure)

    FullModelGradientClipping.__name__ = f"{optim_cls.__name__}WithFullModelClipping"
    return FullModelGradientClipping


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


if __name__ == "__main__":
    args = argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
