"""Mask AP of a trained run re-evaluated at several binary-mask thresholds.

    python -m tools.mask_threshold RUN_DIR [--dataset synthetic_val]
        [--thresholds 0.4,0.5,0.6,0.7,0.8] [--weights RUN_DIR/model_final.pth]
        [--register-coco NAME JSON IMAGE_DIR] [KEY VALUE ...]

RUN_DIR is a ``train_net.py`` output directory (its ``config.yaml`` and weights). Thresholds are
mask probabilities: Box2Mask-T's ``MODEL.BOX2MASK_T.MASK_LOGIT_THRESHOLD`` takes their logit,
Box2Mask-C's ``MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD`` the probability itself. The threshold decides the
binary masks, their maskness (and so the scores) and the boxes derived from them, so each
threshold is a full COCO evaluation (segm and bbox) of ``--dataset``; predictions are kept in
``RUN_DIR/mask_threshold/<dataset>/p<threshold>``. Choose the threshold on a validation set and
report it on a held-out one. Prints a table; the last line is
``best_mask_threshold <p> mask_ap <AP>``.
"""
import argparse
import math
import sys
from pathlib import Path


from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg

from box2mask import add_box2mask_config
from box2mask.engine import Trainer, add_register_coco_argument, register_coco_sets


def threshold_override(meta_architecture: str, prob: float) -> list:
    """[KEY, VALUE] that sets the binary-mask threshold of the model to probability ``prob``."""
    if not 0.0 < prob < 1.0:
        raise ValueError(f"a mask threshold is a probability in (0, 1), got {prob}")
    if meta_architecture == "Box2MaskT":
        return ["MODEL.BOX2MASK_T.MASK_LOGIT_THRESHOLD", math.log(prob / (1.0 - prob))]
    if meta_architecture == "Box2MaskC":
        return ["MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD", prob]
    raise ValueError(f"no mask threshold known for MODEL.META_ARCHITECTURE {meta_architecture}")


def evaluate_at(run_dir: Path, weights: Path, dataset: str, prob: float, opts) -> dict:
    """COCO results ({"segm": {...}, "bbox": {...}}) of the run's model on ``dataset`` with binary
    masks at probability ``prob``."""
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(run_dir / "config.yaml"))
    cfg.merge_from_list(list(opts) + ["DATASETS.TEST", (dataset,), "MODEL.WEIGHTS", str(weights)])
    cfg.merge_from_list(threshold_override(cfg.MODEL.META_ARCHITECTURE, prob))
    cfg.freeze()
    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(str(weights))
    out_dir = run_dir / "mask_threshold" / dataset / f"p{prob:.2f}"
    evaluator = Trainer.build_evaluator(cfg, dataset, str(out_dir))
    return Trainer.test(cfg, model, evaluators=[evaluator])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a train_net.py OUTPUT_DIR")
    parser.add_argument("--dataset", default="synthetic_val", help="a registered data set")
    parser.add_argument("--thresholds", default="0.4,0.5,0.6,0.7,0.8")
    parser.add_argument("--weights", type=Path, help="default: RUN_DIR/model_final.pth")
    add_register_coco_argument(parser)
    parser.add_argument("opts", nargs="*", help="KEY VALUE config overrides")
    args = parser.parse_intermixed_args(argv)
    register_coco_sets(args.register_coco)
    weights = args.weights or args.run_dir / "model_final.pth"
    for path in (args.run_dir / "config.yaml", weights):
        if not path.is_file():
            sys.exit(f"mask_threshold: {path} not found")
    probs = [float(p) for p in args.thresholds.split(",")]
    rows = []
    for prob in probs:
        results = evaluate_at(args.run_dir, weights, args.dataset, prob, args.opts)
        rows.append((prob, results["segm"], results["bbox"]))
    print(f"\n{args.run_dir} on {args.dataset}")
    print("| mask threshold | mask AP | AP50 | AP75 | box AP |")
    print("|---|---|---|---|---|")
    for prob, segm, bbox in rows:
        print(f"| {prob:.2f} | {segm['AP']:.1f} | {segm['AP50']:.1f} | {segm['AP75']:.1f} | "
              f"{bbox['AP']:.1f} |")
    best = max(rows, key=lambda row: row[1]["AP"] if math.isfinite(row[1]["AP"]) else -1.0)
    print(f"best_mask_threshold {best[0]:.2f} mask_ap {best[1]['AP']:.2f}")
    return rows


if __name__ == "__main__":
    main()
