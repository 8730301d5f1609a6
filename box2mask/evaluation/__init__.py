"""Evaluation: the evaluator of each data set (VOC instance, iSAID, DOTA; COCO's otherwise),
the training-free box baselines and the polarity diagnostic of predicted masks."""
from .build import HAS_FAST_COCO_EVAL, build_evaluator
from .dota import DOTAEvaluator
from .isaid import ISAIDEvaluator
from .voc_instance import VOCInstanceEvaluator
from .polarity import evaluate_polarity, match_by_box, polarity_of_matches
