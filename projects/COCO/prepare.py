#!/usr/bin/env python
"""COCO 2017 → ``OUT/{train,val}.json`` (and ``OUT/test-dev.json``) and ``OUT/images/``
(see README.md).

    python projects/COCO/prepare.py --coco COCO_ROOT --out $DETECTRON2_DATASETS/coco [--test-dev]
"""
import argparse
import logging
import os

from box2mask.data.testbeds import convert_coco


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco", required=True,
                        help="folder holding annotations/, train2017/ and val2017/")
    parser.add_argument("--out", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"),
                                                      "coco"),
                        help="output folder (default: $DETECTRON2_DATASETS/coco)")
    parser.add_argument("--test-dev", action="store_true",
                        help="also write test-dev.json from annotations/image_info_test-dev2017"
                        ".json and test2017/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = convert_coco(args.coco, args.out, test_dev=args.test_dev)
    logging.info(f"{args.out}: wrote {written or 'nothing (every split exists)'}")


if __name__ == "__main__":
    main()
