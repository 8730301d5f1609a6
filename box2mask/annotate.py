"""Boxes to masks: a COCO json with boxes in, the same json with a mask for every box out.

    python -m box2mask.annotate --json boxes.json --images DIR --out masks.json \
        [--method auto|model|evolution|grabcut|box] [--config-file CFG --weights W.pth] \
        [--score-threshold 0.05] [--workers N]

Every annotation gets a ``segmentation`` (COCO RLE) and ``box2mask_source`` (the method that
filled it); everything else is kept as it was. Methods: ``model`` the trained model's
prediction of the box's class that overlaps the box most (box IoU), clipped to the box;
``evolution`` the level-set evolution op in the box; ``auto`` the model where its match has box
IoU >= ``--min-match-iou``, the evolution elsewhere; ``grabcut`` OpenCV's GrabCut from the box;
``box`` the box itself. A box that its method leaves empty gets the box ("box"); a box of zero
size, or outside its image, keeps an empty mask and counts as "box".

Work is saved per image to ``<out>.partial.jsonl``: a rerun of the same command continues where
an interrupted one stopped. The output is written atomically at the end (then the side file is
removed); the input json is never written. The last line printed is
``annotated N boxes: model A, evolution B, box C`` (``, grabcut D`` with --method grabcut).
"""
import argparse
import hashlib
import json
import logging
import os
import sys
from collections import Counter
from multiprocessing import Pool
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from .box_to_mask import box_fill_masks, evolution_masks, grabcut_masks, match_predictions
from .data.datasets import check_coco_json
from .data.image_io import read_image
from .predictor import Predictor

__all__ = ["annotate", "main"]

METHODS = ("auto", "model", "evolution", "grabcut", "box")
logger = logging.getLogger("box2mask.annotate")


class _ImageAnnotator:
    """Masks of one image's annotations by one method (a Predictor for model / auto)."""

    def __init__(self, method, image_root, category_ids, config_file, weights, score_threshold,
                 min_match_iou):
        self.method = method
        self.image_root = Path(image_root)
        self.contiguous = {cid: i for i, cid in enumerate(sorted(category_ids))}
        self.score_threshold = score_threshold
        self.min_match_iou = min_match_iou
        self.predictor = None
        if method in ("model", "auto"):
            self.predictor = Predictor(config_file, weights)
            k = self.predictor.cfg.MODEL.BOX2MASK.NUM_CLASSES
            if k != len(self.contiguous):
                raise ValueError(
                    f"{config_file}: the model has {k} classes but the json has "
                    f"{len(self.contiguous)} categories"
                )

    def __call__(self, job) -> Dict:
        """job = (image entry, its annotations) -> {"image_id", "masks": {ann id: record}}."""
        info, anns = job
        path = self.image_root / info["file_name"]
        try:
            image = read_image(str(path), format="RGB")
        except (FileNotFoundError, ValueError) as e:
            raise type(e)(f"image id {info['id']}: {e}") from None
        h, w = image.shape[:2]
        if (h, w) != (info["height"], info["width"]):
            raise ValueError(
                f"{path} is {w}x{h} but images[id={info['id']}] says "
                f"{info['width']}x{info['height']}"
            )
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        boxes = np.clip(boxes, 0, [w, h, w, h])
        valid = (boxes[:, 2] - boxes[:, 0] > 0) & (boxes[:, 3] - boxes[:, 1] > 0)
        masks = np.zeros((len(anns), h, w), dtype=bool)
        sources = np.array(["box"] * len(anns), dtype=object)
        todo = valid.copy()
        if self.predictor is not None and todo.any():
            self._model(image, boxes, anns, todo, masks, sources)
        if self.method in ("evolution", "auto", "grabcut") and todo.any():
            fill = grabcut_masks if self.method == "grabcut" else evolution_masks
            masks[todo] = fill(image, boxes[todo])
            sources[todo] = "grabcut" if self.method == "grabcut" else "evolution"
        box_masks = box_fill_masks(image, boxes)
        masks &= box_masks
        fallback = ~masks.any(axis=(1, 2))
        masks[fallback] = box_masks[fallback]  # empty for a zero-size box
        sources[fallback] = "box"
        records = {}
        for ann, mask, source in zip(anns, masks, sources):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            records[str(ann["id"])] = {"segmentation": rle, "box2mask_source": source}
        return {"image_id": info["id"], "masks": records, "clipped": int(_clipped(xywh, w, h).sum())}

    def _model(self, image, boxes, anns, todo, masks, sources):
        """Fill the boxes the model matches (all matches for "model", good ones for "auto")."""
        instances = self.predictor(image)
        instances = instances[instances.scores >= self.score_threshold]
        classes = np.array([self.contiguous[a["category_id"]] for a in anns])
        index, iou = match_predictions(instances, boxes, classes)
        good = todo & (index >= 0)
        if self.method == "auto":
            good &= iou >= self.min_match_iou
        box_masks = box_fill_masks(image, boxes)
        for i in np.nonzero(good)[0]:
            masks[i] = instances.pred_masks[index[i]].numpy() & box_masks[i]
            sources[i] = "model"
        # A match that leaves its box empty goes to the next method, as an unmatched box does.
        todo &= ~(good & masks.any(axis=(1, 2)))


def _clipped(xywh, w, h) -> np.ndarray:
    """Whether each [x, y, w, h] box reaches outside the image."""
    return (xywh[:, 0] < 0) | (xywh[:, 1] < 0) | (xywh[:, 0] + xywh[:, 2] > w) | (
        xywh[:, 1] + xywh[:, 3] > h
    )


_WORKER: Optional[_ImageAnnotator] = None


def _init_worker(kwargs):
    global _WORKER
    _WORKER = _ImageAnnotator(**kwargs)


def _run_worker(job):
    return _WORKER(job)


def _fingerprint(json_file, settings) -> str:
    digest = hashlib.sha256(Path(json_file).read_bytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def _load_partial(side_file: Path, fingerprint: str) -> Dict[int, Dict]:
    """Images done by an interrupted run with the same input and settings (a torn last line,
    from an interruption mid-write, is dropped)."""
    if not side_file.exists():
        return {}
    lines = side_file.read_text().splitlines()
    header = json.loads(lines[0]) if lines else {}
    if header.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{side_file} holds the work of a run with another input json or other settings; "
            "rerun that command, or delete the file to start over"
        )
    done = {}
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        done[record["image_id"]] = record
    return done


def annotate(json_file, image_root, out_file, method="auto", config_file=None, weights=None,
             score_threshold=0.05, min_match_iou=0.5, workers=1) -> Counter:
    """Write ``out_file``: ``json_file`` with a ``segmentation`` and ``box2mask_source`` on every
    annotation (see the module docstring). Returns the count of each source."""
    if method not in METHODS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if method in ("model", "auto") and not (config_file and weights):
        raise ValueError(f"--method {method} needs --config-file and --weights")
    json_path, out_path = Path(json_file), Path(out_file)
    if out_path.resolve() == json_path.resolve():
        raise ValueError(f"--out {out_file} is the input json; choose another file")
    if out_path.exists():
        raise FileExistsError(f"{out_file} exists; remove it or choose another --out")
    if not Path(image_root).is_dir():
        raise FileNotFoundError(f"{image_root}: image folder does not exist")
    data = check_coco_json(str(json_path))
    image_ids = [img["id"] for img in data["images"]]
    known = set(image_ids)
    by_image: Dict[int, List[Dict]] = {i: [] for i in image_ids}
    for i, ann in enumerate(data["annotations"]):
        if ann["image_id"] not in known:
            raise ValueError(f"{json_file}: annotations[{i}] refers to image_id "
                             f"{ann['image_id']}, which is not in 'images'")
        by_image[ann["image_id"]].append(ann)

    settings = {"method": method, "weights": str(weights), "config": str(config_file),
                "score_threshold": score_threshold, "min_match_iou": min_match_iou}
    fingerprint = _fingerprint(json_path, settings)
    side_file = out_path.with_name(out_path.name + ".partial.jsonl")
    done = _load_partial(side_file, fingerprint)
    jobs = [(img, by_image[img["id"]]) for img in data["images"] if img["id"] not in done]
    worker_args = dict(method=method, image_root=image_root,
                       category_ids=[c["id"] for c in data["categories"]],
                       config_file=config_file, weights=weights,
                       score_threshold=score_threshold, min_match_iou=min_match_iou)
    with open(side_file, "a") as side:
        if not done:
            side.truncate(0)
            side.write(json.dumps({"fingerprint": fingerprint}) + "\n")
        bar = tqdm(total=len(data["images"]), initial=len(done), desc="annotate", unit="img")
        if workers > 1:
            pool = Pool(workers, initializer=_init_worker, initargs=(worker_args,))
            results = pool.imap(_run_worker, jobs)
        else:
            pool, results = None, map(_ImageAnnotator(**worker_args), jobs)
        try:
            for record in results:
                side.write(json.dumps(record) + "\n")
                side.flush()
                done[record["image_id"]] = record
                bar.update(1)
        finally:
            bar.close()
            if pool is not None:
                pool.terminate()

    counts = Counter()
    for ann in data["annotations"]:
        ann.update(done[ann["image_id"]]["masks"][str(ann["id"])])
        counts[ann["box2mask_source"]] += 1
    clipped = sum(r["clipped"] for r in done.values())
    if clipped:
        logger.warning(f"{json_file}: {clipped} boxes reach outside their image; their masks "
                       "are clipped to it")
    tmp = out_path.with_name(out_path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, out_path)
    side_file.unlink()
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="COCO instances json with boxes")
    parser.add_argument("--images", required=True, help="folder of the json's file_name entries")
    parser.add_argument("--out", required=True, help="output json (never the input)")
    parser.add_argument("--method", default="auto", choices=METHODS)
    parser.add_argument("--config-file", default=None, help="model config (model / auto)")
    parser.add_argument("--weights", default=None, help="model weights (model / auto)")
    parser.add_argument("--score-threshold", type=float, default=0.05,
                        help="minimum score of a model prediction that may fill a box")
    parser.add_argument("--min-match-iou", type=float, default=0.5,
                        help="auto: box IoU of the model's match needed to use it")
    parser.add_argument("--workers", type=int, default=1, help="processes over images")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = annotate(args.json, args.images, args.out, args.method, args.config_file,
                      args.weights, args.score_threshold, args.min_match_iou, args.workers)
    line = (f"annotated {sum(counts.values())} boxes: model {counts['model']}, "
            f"evolution {counts['evolution']}, box {counts['box']}")
    if counts["grabcut"]:
        line += f", grabcut {counts['grabcut']}"
    print(line)
    return counts


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
