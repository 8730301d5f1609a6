"""tools/hole_gradients.py."""

from pathlib import Path

import torch

from tools import hole_gradients

ROOT = Path(__file__).resolve().parents[2]


def test_hole_gradients_split_the_box_loss_into_its_terms():
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from box2mask import add_box2mask_config
    from box2mask.losses import BoxSupervisedMaskLoss

    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml"))
    cfg.MODEL.EFFICIENTNET.PRETRAINED = False
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_IMAGE_WEIGHT = 30.0  # every term on, the mean-colour one too
    term = build_model(cfg).criterion.mask_term
    h = w = 32
    image = torch.full((1, 3, h, w), -0.5)
    image[..., 8:24, 8:24] = 0.5
    image[..., 12:20, 12:20] = -0.5  # a ring whose hole shows the background
    logits = torch.full((h, w), -2.0)
    logits[8:24, 8:24] = 3.0  # the prediction fills the hole
    box = torch.tensor([[8.0, 8.0, 24.0, 24.0]])
    torch.manual_seed(0)
    guide = term.guide(torch.randn(1, cfg.MODEL.BOX2MASK_T.MASK_DIM, h, w))

    parts = hole_gradients.term_gradients(
        hole_gradients.single_term_losses(cfg), term, logits, box, image, guide
    )
    whole = hole_gradients.term_gradients(
        {"all": BoxSupervisedMaskLoss(cfg)}, term, logits, box, image, guide
    )["all"]
    assert set(parts) == set(hole_gradients.TERMS)
    assert torch.allclose(sum(parts.values()), whole, atol=1e-7)
    assert parts["image level set"][12:20, 12:20].mean() > 0  # descent lowers the hole's logits
