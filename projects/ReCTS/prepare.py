#!/usr/bin/env python
"""ICDAR 2019 ReCTS → text-line sets: ``OUT/{train,val}.json``, ``OUT/split.json`` and
``OUT/images/`` (see README.md).

    python projects/ReCTS/prepare.py --rects RECTS_ROOT --out $DETECTRON2_DATASETS/rects \
        [--val-fraction 0.1]
"""
from box2mask.data.testbeds import convert_rects, log_written, prepare_cli


def main(argv=None):
    parser = prepare_cli(__doc__, "rects")
    parser.add_argument("--rects", required=True,
                        help="the unpacked ReCTS training set, holding img/ and gt/")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="fraction of the training images held out as val")
    args = parser.parse_args(argv)
    written = convert_rects(args.rects, args.out, val_fraction=args.val_fraction)
    log_written(args.out, written)


if __name__ == "__main__":
    main()
