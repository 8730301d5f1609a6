"""detectron2's trainer with the box-supervised mapper, per-data-set evaluators, AdamW, exact
resumption and bf16 autocast on the CPU."""
import logging
import time
import weakref

import detectron2.utils.comm as comm
import torch
from detectron2.data import (
    MetadataCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
)
from detectron2.engine import (
    AMPTrainer,
    DefaultTrainer,
    SimpleTrainer,
    TrainerBase,
    create_ddp_model,
)
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping
from detectron2.utils.logger import setup_logger

from ..data import BoxSupervisedDatasetMapper, build_train_dataset
from ..evaluation import build_evaluator
from .checkpoint import Box2MaskCheckpointer
from .resume import ResumableTrainingSampler, find_sampler, get_rng_state, set_rng_state

__all__ = ["CPUAutocastTrainer", "Trainer", "with_full_model_clipping"]


class Trainer(DefaultTrainer):
    """DefaultTrainer with the box-supervised mapper, the evaluator of each data set
    (``box2mask.evaluation.build_evaluator``) and AdamW or SGD.

    Checkpoints are written crash-safe (:class:`Box2MaskCheckpointer`) and hold, besides
    detectron2's state, the optimizer (and AMP grad scaler), the training sets' classes
    (resuming with other classes is refused), the sampler's seed and, in a single process, the
    random generators: ``--resume`` continues the data stream where the checkpoint left it.
    ``SOLVER.AMP.ENABLED`` on the CPU trains under bf16 autocast
    (:class:`CPUAutocastTrainer`); on CUDA it is detectron2's fp16 ``AMPTrainer``.
    """

    def __init__(self, cfg):
        # DefaultTrainer.__init__, with DDP over CPU processes (no device_ids), the CPU autocast
        # step and the crash-safe checkpointer.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        on_cuda = cfg.MODEL.DEVICE.startswith("cuda")
        model = create_ddp_model(
            model, broadcast_buffers=False, **({} if on_cuda else {"device_ids": None})
        )
        step = SimpleTrainer
        if cfg.SOLVER.AMP.ENABLED:
            step = AMPTrainer if on_cuda else CPUAutocastTrainer
        self._trainer = step(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = Box2MaskCheckpointer(
            model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self)
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def state_dict(self):
        state = super().state_dict()
        # detectron2 0.6 saves no optimizer (nor AMP grad scaler): a resumed run restarted AdamW.
        state["_trainer"] = self._trainer.state_dict()
        sampler = find_sampler(self._trainer.data_loader)
        state["data"] = {
            "thing_classes": self._train_classes(),
            "sampler_seed": None if sampler is None else sampler.seed,
        }
        if comm.get_world_size() == 1:  # only the main process writes checkpoints
            state["rng"] = get_rng_state()
        return state

    def load_state_dict(self, state):
        data = state.get("data", {})
        saved, current = data.get("thing_classes"), self._train_classes()
        if saved is not None and saved != current:
            raise ValueError(
                f"the checkpoint in {self.cfg.OUTPUT_DIR} was trained on the classes {saved}, "
                f"but DATASETS.TRAIN {tuple(self.cfg.DATASETS.TRAIN)} has {current}: set "
                "another OUTPUT_DIR, or train without --resume"
            )
        super().load_state_dict(state)
        if "_trainer" in state:
            self._trainer.load_state_dict(state["_trainer"])
        sampler = find_sampler(self._trainer.data_loader)
        if sampler is not None and data.get("sampler_seed") is not None:
            per_process = self.cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
            sampler.resume(data["sampler_seed"], (self.iter + 1) * per_process)
            self._trainer._data_loader_iter = iter(self._trainer.data_loader)
        # Last: building the loader's iterator draws from torch's generator.
        if "rng" in state and comm.get_world_size() == 1:
            set_rng_state(state["rng"])

    def _train_classes(self):
        """The class names of each training set (loaded with the train loader)."""
        train = self.cfg.DATASETS.TRAIN
        return [list(MetadataCatalog.get(n).get("thing_classes", [])) for n in train]

    @classmethod
    def build_train_loader(cls, cfg):
        """detectron2's train loader over the training sets as one compact buffer
        (:func:`box2mask.data.build_train_dataset`: images without instances left out by
        ``DATALOADER.FILTER_EMPTY_ANNOTATIONS``) and a :class:`ResumableTrainingSampler` (for
        ``DATALOADER.SAMPLER_TRAIN TrainingSampler``; other samplers restart on resumption)."""
        mapper = BoxSupervisedDatasetMapper(cfg, True)
        dataset = build_train_dataset(
            cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
        )
        if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
            logging.getLogger(__name__).warning(
                f"{cfg.DATALOADER.SAMPLER_TRAIN}: a resumed run restarts its data stream"
            )
            return build_detection_train_loader(cfg, dataset=dataset, mapper=mapper)
        return build_detection_train_loader(
            cfg, dataset=dataset, mapper=mapper, sampler=ResumableTrainingSampler(len(dataset))
        )

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


class CPUAutocastTrainer(SimpleTrainer):
    """detectron2's ``SimpleTrainer`` whose forward pass and loss sum run under CPU bf16
    autocast, as ``AMPTrainer`` does on CUDA with fp16 (bf16 has fp32's range: no gradient
    scaling). The compiled ops compute in fp32 under autocast."""

    def run_step(self):
        assert self.model.training, "[CPUAutocastTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        data = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss_dict = self.model(data)
            losses = sum(loss_dict.values())
        self.optimizer.zero_grad()
        losses.backward()
        self._write_metrics(loss_dict, data_time)
        self.optimizer.step()
