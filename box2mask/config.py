"""Box2Mask's config keys: ``add_box2mask_config(cfg)`` adds every one with its default.

Symbols in comments refer to the Box2Mask paper (TPAMI 2024) and ../docs of the project.
"""
from detectron2.config import CfgNode as CN

__all__ = ["add_box2mask_config"]


def add_box2mask_config(cfg):
    """Add Box2Mask's keys to a detectron2 config (in place). Safe to call twice."""
    if hasattr(cfg.MODEL, "BOX2MASK"):
        return

    # ---------------------------------------------------------------- data
    # Large-scale jitter (Box2Mask-T): resize by a random factor, then crop/pad to IMAGE_SIZE.
    cfg.INPUT.LSJ = CN()
    cfg.INPUT.LSJ.ENABLED = False
    # Random rescale range of the longer side relative to IMAGE_SIZE.
    cfg.INPUT.LSJ.MIN_SCALE = 0.1
    cfg.INPUT.LSJ.MAX_SCALE = 2.0
    # Square output size (pixels) of the jittered training image.
    cfg.INPUT.LSJ.IMAGE_SIZE = 1024

    # ---------------------------------------------------------------- solver
    # "ADAMW" (the paper's) or "SGD".
    cfg.SOLVER.OPTIMIZER = "ADAMW"
    # Learning-rate multiplier of backbone parameters (Box2Mask-T: 0.1).
    cfg.SOLVER.BACKBONE_MULTIPLIER = 1.0

    # ---------------------------------------------------------------- model
    cfg.MODEL.BOX2MASK = CN()
    # What supervises the masks: "box" (boxes only, the method) or "mask" (ground-truth
    # masks with Dice + BCE: the fully supervised reference under the same schedule).
    cfg.MODEL.BOX2MASK.SUPERVISION = "box"
    # Number of object classes (without background).
    cfg.MODEL.BOX2MASK.NUM_CLASSES = 80

    # ---------------------------------------------------------------- losses (§2 of METHOD)
    cfg.MODEL.BOX2MASK.LOSS = CN()
    # Box projection Dice weight α (3.0 for C, 5.0 for T).
    cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT = 3.0
    # Level-set weight on the image data term (λ1).
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_IMAGE_WEIGHT = 0.05
    # Level-set weight on the deep-structural data term cat(T1, T2) (λ2).
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_FEATURE_WEIGHT = 5.0
    # Length (curvature) term weight γ; 0 turns it off (the original's best setting).
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_LENGTH_WEIGHT = 0.0
    # Instances whose box mask has fewer pixels than this at mask resolution get no mask loss.
    cfg.MODEL.BOX2MASK.LOSS.MIN_BOX_PIXELS = 10
    # Use tree-filtered targets T1, T2 for the deep-structural term (False: ablation, the
    # term then uses the mask-feature guide F directly).
    cfg.MODEL.BOX2MASK.LOSS.TREE_FILTER = True
    # σ of the image tree (edge weight exp(-d²/σ)).
    cfg.MODEL.BOX2MASK.LOSS.TREE_IMAGE_SIGMA = 0.02
    # σ of the deep-feature tree.
    cfg.MODEL.BOX2MASK.LOSS.TREE_FEATURE_SIGMA = 1.0
    # Channels of the guide head F on the mask features (5 for C, 1 for T).
    cfg.MODEL.BOX2MASK.LOSS.FEATURE_GUIDE_CHANNELS = 5
    # Square working size (pixels) of the tree filter and LCM; 0 keeps mask resolution.
    cfg.MODEL.BOX2MASK.LOSS.WORKING_SIZE = 96
    # Local consistency module: weight, neighbourhood dilation, iterations, affinity scale.
    cfg.MODEL.BOX2MASK.LOSS.LCM_WEIGHT = 0.2
    cfg.MODEL.BOX2MASK.LOSS.LCM_DILATION = 2
    cfg.MODEL.BOX2MASK.LOSS.LCM_ITERS = 10
    cfg.MODEL.BOX2MASK.LOSS.LCM_ALPHA = 0.3
    # Fully supervised reference (SUPERVISION: mask): Dice and BCE weights.
    cfg.MODEL.BOX2MASK.LOSS.MASK_DICE_WEIGHT = 3.0
    cfg.MODEL.BOX2MASK.LOSS.MASK_BCE_WEIGHT = 1.0
    # Level-set loss: margin (pixels at mask resolution) added around the box for the energy
    # (METHOD §7; 0 = the tight box of the paper).
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_MARGIN = 0
    # LCM: treat the propagated map q as a fixed pseudo-target (no gradient through q).
    cfg.MODEL.BOX2MASK.LOSS.LCM_DETACH = True
