"""Evaluation: the evaluator of each data set and the training-free box baselines."""
from .build import HAS_FAST_COCO_EVAL, build_evaluator
from .isaid import ISAIDEvaluator
from .voc_instance import VOCInstanceEvaluator
