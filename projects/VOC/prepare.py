#!/usr/bin/env python
"""Pascal VOC 2012 + SBD → ``OUT/{train,val}.json`` and ``OUT/images/`` (see README.md).

    python projects/VOC/prepare.py --voc VOCdevkit/VOC2012 --sbd benchmark_RELEASE/dataset \
        --out $DETECTRON2_DATASETS/voc
"""
import argparse
import logging
import os

from box2mask.data.testbeds import convert_voc_sbd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voc", required=True, help="the unpacked VOCdevkit/VOC2012 folder")
    parser.add_argument("--sbd", required=True, help="the unpacked benchmark_RELEASE/dataset")
    parser.add_argument("--out", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"),
                                                      "voc"),
                        help="output folder (default: $DETECTRON2_DATASETS/voc)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = convert_voc_sbd(args.voc, args.sbd, args.out)
    logging.info(f"{args.out}: wrote {written or 'nothing (both splits exist)'}")


if __name__ == "__main__":
    main()
