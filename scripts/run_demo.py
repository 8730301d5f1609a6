#!/usr/bin/env python
"""The README's main job: synthetic data → train Box2Mask on CPU → mask AP → pictures.

    python scripts/run_demo.py [--model c|t] [--output output/demo] [KEY VALUE ...]

Writes ``OUTPUT/metrics.json`` (segm and bbox AP, AP50, AP75), ``OUTPUT/overlays/*.png``
(ground truth left, prediction right) and the training run under ``OUTPUT/train``.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
from detectron2.data import DatasetCatalog

from box2mask import Predictor
from box2mask.data import read_image
from box2mask.data.synthetic import generate_synthetic_dataset
from box2mask.visualization import draw_ground_truth, draw_predictions, side_by_side

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "c": ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml",
    "t": ROOT / "configs/demo/box2mask_t_effnet_lite0.yaml",
}
METRICS = ("AP", "AP50", "AP75")


def summarize(results: dict) -> dict:
    return {task: {k: round(results[task][k], 2) for k in METRICS} for task in ("segm", "bbox")}


def write_overlays(config_file: Path, weights: Path, out_dir: Path, count: int, opts) -> None:
    predictor = Predictor(config_file, weights, device="cpu", opts=opts)
    name = predictor.cfg.DATASETS.TEST[0]
    metadata = predictor.metadata
    out_dir.mkdir(parents=True, exist_ok=True)
    for d in DatasetCatalog.get(name)[:count]:
        rgb = read_image(d["file_name"], "RGB")
        instances = predictor(rgb)
        picture = side_by_side(
            draw_ground_truth(rgb, d, metadata), draw_predictions(rgb, instances, metadata)
        )
        cv2.imwrite(str(out_dir / f"{Path(d['file_name']).stem}.png"), picture[:, :, ::-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CONFIGS), default="c")
    parser.add_argument("--output", default="output/demo")
    parser.add_argument("--num-overlays", type=int, default=6)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args()

    data_root = Path(os.getenv("DETECTRON2_DATASETS", "datasets")) / "synthetic"
    print(f"[demo] synthetic data in {data_root}", flush=True)
    generate_synthetic_dataset(data_root)

    out = Path(args.output)
    train_dir = out / "train"
    config_file = CONFIGS[args.model]
    cmd = [sys.executable, str(ROOT / "train_net.py"), "--config-file", str(config_file),
           "OUTPUT_DIR", str(train_dir), *args.opts]
    print("[demo] training:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)

    results = json.loads((train_dir / "final_results.json").read_text())
    metrics = summarize(results)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_overlays(config_file, train_dir / "model_final.pth", out / "overlays",
                   args.num_overlays, args.opts)

    print(f"\nBox2Mask-{args.model.upper()} on synthetic_val (box-supervised training):")
    print(f"{'task':<6}" + "".join(f"{k:>8}" for k in METRICS))
    for task, row in metrics.items():
        print(f"{task:<6}" + "".join(f"{row[k]:8.2f}" for k in METRICS))
    print(f"[demo] wrote {out / 'metrics.json'} and {out / 'overlays'}/")


if __name__ == "__main__":
    main()
