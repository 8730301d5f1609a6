"""SOLVER.AMP.ENABLED: both demo models train with finite losses and gradients under bf16
autocast on the CPU and, marked ``cuda`` (skipped with "no CUDA device" where there is none),
under fp16 autocast with detectron2's grad scaler for 50 iterations on CUDA (the ops compute in
fp32)."""
from pathlib import Path

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.engine import HookBase

from box2mask import add_box2mask_config, register_box_coco
from detectron2.engine import AMPTrainer

from box2mask.engine import CPUAutocastTrainer, Trainer

ROOT = Path(__file__).resolve().parents[2]


class RecordLosses(HookBase):
    """Each iteration's losses and the output dtypes of the model's convolutions."""

    def __init__(self):
        self.losses, self.dtypes = [], set()

    def before_train(self):
        for module in self.trainer.model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.register_forward_hook(lambda m, i, out: self.dtypes.add(out.dtype))

    def after_step(self):
        latest = self.trainer.storage.latest()
        self.losses.append({k: v for k, (v, _) in latest.items() if k.startswith("loss")})


def _amp_trainer(config, coco_set, tmp_path, device, iters):
    json_path, image_dir = coco_set
    name = f"t_amp_{config}_{device}"
    register_box_coco(name, json_path, image_dir)
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / f"configs/demo/{config}.yaml"))
    cfg.merge_from_list([
        "MODEL.DEVICE", device, "MODEL.EFFICIENTNET.PRETRAINED", "False",
        "MODEL.BOX2MASK.NUM_CLASSES", "2", "SOLVER.AMP.ENABLED", "True",
        "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", "()",
        "SOLVER.WARMUP_ITERS", "1", "SOLVER.CHECKPOINT_PERIOD", "1000",
        "INPUT.MIN_SIZE_TRAIN", "(64,)", "DATALOADER.NUM_WORKERS", "0",
        "DATASETS.TRAIN", f"('{name}',)", "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0",
        "OUTPUT_DIR", str(tmp_path), "SEED", "0",
    ])
    if cfg.INPUT.LSJ.ENABLED:
        cfg.INPUT.LSJ.IMAGE_SIZE = 64
    torch.manual_seed(0)
    trainer = Trainer(cfg)
    record = RecordLosses()
    trainer.register_hooks([record])
    return trainer, record


def _check_finite(trainer, record, iters):
    assert len(record.losses) == iters
    for losses in record.losses:
        assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in params)


@pytest.mark.parametrize("config", ["box2mask_c_effnet_lite0", "box2mask_t_effnet_lite0"])
def test_bf16_autocast_trains_both_models_on_the_cpu(config, coco_set, tmp_path):
    trainer, record = _amp_trainer(config, coco_set, tmp_path, "cpu", 4)
    assert isinstance(trainer._trainer, CPUAutocastTrainer)
    trainer.train()
    assert torch.bfloat16 in record.dtypes  # autocast was on
    _check_finite(trainer, record, 4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("config", ["box2mask_c_effnet_lite0", "box2mask_t_effnet_lite0"])
def test_fp16_autocast_with_grad_scaler_trains_both_models_on_cuda(config, coco_set, tmp_path):
    trainer, record = _amp_trainer(config, coco_set, tmp_path, "cuda", 50)
    assert isinstance(trainer._trainer, AMPTrainer)
    trainer.train()
    assert torch.float16 in record.dtypes
    _check_finite(trainer, record, 50)
