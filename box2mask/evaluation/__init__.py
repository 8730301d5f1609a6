"""Evaluation: the evaluator of each data set (VOC instance, iSAID, DOTA; COCO's otherwise),
the training-free box baselines and the polarity diagnostic of predicted masks
(:mod:`box2mask.evaluation.polarity`, not imported here so that it runs as a CLI)."""
from .build import HAS_FAST_COCO_EVAL, build_evaluator
from .dota import DOTAEvaluator
from .isaid import ISAIDEvaluator
from .voc_instance import VOCInstanceEvaluator
