#!/usr/bin/env python
"""ICDAR 2019 ReCTS → text-line sets: ``OUT/{train,val}.json``, ``OUT/split.json`` and
``OUT/images/`` (see README.md).

    python projects/ReCTS/prepare.py --rects RECTS_ROOT --out $DETECTRON2_DATASETS/rects \
        [--val-fraction 0.1]
"""
import argparse
import logging
import os

from box2mask.data.testbeds import convert_rects


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rects", required=True,
                        help="the unpacked ReCTS training set, holding img/ and gt/")
    parser.add_argument("--out", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"),
                                                      "rects"),
                        help="output folder (default: $DETECTRON2_DATASETS/rects)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="fraction of the training images held out as val")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = convert_rects(args.rects, args.out, val_fraction=args.val_fraction)
    logging.info(f"{args.out}: wrote {written or 'nothing (both splits exist)'}")


if __name__ == "__main__":
    main()
