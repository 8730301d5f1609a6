"""Evaluation: the evaluator of each data set, the training-free box baselines and the
polarity diagnostic of predicted masks."""
from .build import HAS_FAST_COCO_EVAL, build_evaluator
from .isaid import ISAIDEvaluator
from .voc_instance import VOCInstanceEvaluator
from .polarity import evaluate_polarity, match_by_box, polarity_of_matches
