#!/usr/bin/env python
"""Run a trained Box2Mask model on images: PNG overlays and COCO-style JSON.

    python demo.py --config-file CFG --input img.jpg folder/ "shots/*.png" --output out/ \
        --opts MODEL.WEIGHTS model_final.pth

For each input ``a.jpg`` the overlay is ``out/a_pred.png`` (``a_jpg_pred.png`` when another
input has the stem ``a``, then ``_2``, ``_3``...); ``out/results.json`` holds every prediction
(COCO result records with ``file_name``). Inputs are never overwritten, existing outputs are
replaced only with ``--overwrite``, overlays (``*_pred.png``) in the output folder are not
taken as inputs, and an unreadable image is skipped with a warning naming it.
"""
import argparse
import glob
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List

import cv2
from detectron2.evaluation.coco_evaluation import instances_to_coco_json

from box2mask import Predictor
from box2mask.data import read_image
from box2mask.visualization import draw_predictions

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
OVERLAY_SUFFIX = "_pred.png"
RESULTS = "results.json"

logger = logging.getLogger("box2mask.demo")


def list_images(inputs: List[str], output_dir: Path) -> List[Path]:
    """Image files of ``inputs`` (files, folders, globs) in order, each once.

    A folder contributes its image files (sorted, not recursive); in ``output_dir`` the
    overlays this tool writes are left out.

    Raises:
        FileNotFoundError naming an input that is no file, folder or matching glob.
    """
    output_dir = output_dir.resolve()
    files: List[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = [
                f
                for f in sorted(p.iterdir())
                if f.is_file()
                and f.suffix.lower() in IMAGE_SUFFIXES
                and not (f.parent.resolve() == output_dir and f.name.endswith(OVERLAY_SUFFIX))
            ]
            if not found:
                raise FileNotFoundError(f"{item}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(item) if Path(m).is_file())
            if not matches:
                raise FileNotFoundError(f"{item}: no such file or folder, and no file matches it")
            files += matches
    unique, seen = [], set()
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique


def overlay_names(paths: List[Path]) -> Dict[Path, str]:
    """A distinct overlay file name per input: ``a_pred.png``, else ``a_jpg_pred.png``, else
    ``a_jpg_2_pred.png``..."""
    stems: Dict[str, int] = {}
    for p in paths:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    names, taken = {}, set()
    for p in paths:
        base = p.stem if stems[p.stem] == 1 else f"{p.stem}_{p.suffix.lstrip('.').lower()}"
        name, k = base + OVERLAY_SUFFIX, 2
        while name in taken:
            name, k = f"{base}_{k}{OVERLAY_SUFFIX}", k + 1
        taken.add(name)
        names[p] = name
    return names


def check_outputs(outputs: List[Path], inputs: List[Path], overwrite: bool) -> None:
    """Refuse to replace an input ever, or an existing output without ``overwrite``."""
    input_set = {p.resolve() for p in inputs}
    for out in outputs:
        if out.resolve() in input_set:
            raise FileExistsError(f"{out} is an input image; choose another --output folder")
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} exists; pass --overwrite to replace it")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument(
        "--input", required=True, nargs="+", help="image files, folders or globs (quoted)"
    )
    parser.add_argument("--output", required=True, help="folder for overlays and results.json")
    parser.add_argument(
        "--confidence-threshold", type=float, default=0.5, help="minimum score of an instance"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--device", default=None, help="cpu, cuda... (default: cuda if visible)")
    parser.add_argument(
        "--opts", default=[], nargs=argparse.REMAINDER, help="KEY VALUE config overrides"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    out_dir = Path(args.output)
    paths = list_images(args.input, out_dir)
    names = overlay_names(paths)
    check_outputs([out_dir / n for n in names.values()] + [out_dir / RESULTS], paths, args.overwrite)
    predictor = Predictor(args.config_file, None, device=args.device, opts=args.opts)
    out_dir.mkdir(parents=True, exist_ok=True)

    results, skipped = [], 0
    for image_id, path in enumerate(paths):
        try:
            rgb = read_image(str(path), format="RGB")
        except (FileNotFoundError, ValueError) as e:
            logger.warning(f"skipping an unreadable image: {e}")
            skipped += 1
            continue
        instances = predictor(rgb)
        instances = instances[instances.scores >= args.confidence_threshold]
        for record in instances_to_coco_json(instances, image_id):
            record["file_name"] = str(path)
            results.append(record)
        overlay = draw_predictions(rgb, instances, predictor.metadata, args.confidence_threshold)
        cv2.imwrite(str(out_dir / names[path]), overlay[:, :, ::-1])
        logger.info(f"{path}: {len(instances)} instances -> {out_dir / names[path]}")
    tmp = out_dir / (RESULTS + ".tmp")
    with open(tmp, "w") as f:
        json.dump(results, f)
    os.replace(tmp, out_dir / RESULTS)
    print(
        f"wrote {len(results)} instances of {len(paths) - skipped} images to "
        f"{out_dir / RESULTS} (skipped {skipped} unreadable)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
