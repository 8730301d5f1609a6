"""detectron2's trainer with the box-supervised mapper, per-data-set evaluators and AdamW."""

import torch
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import DefaultTrainer
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

from ..data import BoxSupervisedDatasetMapper
from ..evaluation import build_evaluator

__all__ = ["Trainer", "with_full_model_clipping"]


class Trainer(DefaultTrainer):
    """DefaultTrainer with the box-supervised mapper, the evaluator of each data set
    (``box2mask.evaluation.build_evaluator``) and AdamW or SGD."""

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
        return build_evaluator(cfg, dataset_name, output_folder)

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
