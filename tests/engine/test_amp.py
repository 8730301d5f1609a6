"""SOLVER.AMP.ENABLED on the CPU: both demo models train under bf16 autocast with finite
losses and gradients (the ops compute in fp32)."""
from pathlib import Path

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.engine import HookBase

from box2mask import add_box2mask_config, register_box_coco
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


@pytest.mark.parametrize("config", ["box2mask_c_effnet_lite0", "box2mask_t_effnet_lite0"])
def test_bf16_autocast_trains_both_models_on_the_cpu(config, coco_set, tmp_path):
    json_path, image_dir = coco_set
    register_box_coco(f"t_amp_{config}", json_path, image_dir)
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / f"configs/demo/{config}.yaml"))
    cfg.merge_from_list([
        "MODEL.DEVICE", "cpu", "MODEL.EFFICIENTNET.PRETRAINED", "False",
        "MODEL.BOX2MASK.NUM_CLASSES", "2", "SOLVER.AMP.ENABLED", "True",
        "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "4", "SOLVER.STEPS", "()",
        "SOLVER.WARMUP_ITERS", "1", "SOLVER.CHECKPOINT_PERIOD", "100",
        "INPUT.MIN_SIZE_TRAIN", "(64,)", "DATALOADER.NUM_WORKERS", "0",
        "DATASETS.TRAIN", f"('t_amp_{config}',)", "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0",
        "OUTPUT_DIR", str(tmp_path), "SEED", "0",
    ])
    if cfg.INPUT.LSJ.ENABLED:
        cfg.INPUT.LSJ.IMAGE_SIZE = 64
    torch.manual_seed(0)
    trainer = Trainer(cfg)
    assert isinstance(trainer._trainer, CPUAutocastTrainer)
    record = RecordLosses()
    trainer.register_hooks([record])
    trainer.train()
    assert torch.bfloat16 in record.dtypes  # autocast was on
    assert len(record.losses) == 4
    for losses in record.losses:
        assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in params)
