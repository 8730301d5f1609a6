#!/usr/bin/env python
"""LiTS CT volumes → liver slices: ``OUT/{train,val}.json``, ``OUT/split.json`` and
``OUT/images/`` (see README.md).

    python projects/LiTS/prepare.py --lits LITS_ROOT --out $DETECTRON2_DATASETS/lits \
        [--window -100 400 --size 640]
"""
import argparse
import logging
import os

from box2mask.data.testbeds import convert_lits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lits", required=True,
                        help="folder holding volume-<N>.nii and segmentation-<N>.nii (any depth)")
    parser.add_argument("--out", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"),
                                                      "lits"),
                        help="output folder (default: $DETECTRON2_DATASETS/lits)")
    parser.add_argument("--window", type=float, nargs=2, default=(-100.0, 400.0),
                        metavar=("LOW", "HIGH"), help="Hounsfield-unit window mapped to 0..255")
    parser.add_argument("--size", type=int, default=640, help="side of the resized slices")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = convert_lits(args.lits, args.out, window=tuple(args.window), size=args.size)
    logging.info(f"{args.out}: wrote {written or 'nothing (both splits exist)'}")


if __name__ == "__main__":
    main()
