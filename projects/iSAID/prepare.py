#!/usr/bin/env python
"""iSAID → 800×800 patches: ``OUT/{train,val}.json`` and ``OUT/images/`` (see README.md).

    python projects/iSAID/prepare.py --isaid ISAID_ROOT --out $DETECTRON2_DATASETS/isaid \
        [--patch 800 --overlap 200]
"""
import argparse
import logging
import os

from box2mask.data.testbeds import convert_isaid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isaid", required=True,
                        help="folder holding {train,val}/images and {train,val}/Annotations")
    parser.add_argument("--out", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"),
                                                      "isaid"),
                        help="output folder (default: $DETECTRON2_DATASETS/isaid)")
    parser.add_argument("--patch", type=int, default=800, help="patch side in pixels")
    parser.add_argument("--overlap", type=int, default=200, help="overlap of patches in pixels")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = convert_isaid(args.isaid, args.out, patch=args.patch, overlap=args.overlap)
    logging.info(f"{args.out}: wrote {written or 'nothing (both splits exist)'}")


if __name__ == "__main__":
    main()
