#!/usr/bin/env python
"""LiTS CT volumes → liver slices: ``OUT/{train,val}.json``, ``OUT/split.json`` and
``OUT/images/`` (see README.md).

    python projects/LiTS/prepare.py --lits LITS_ROOT --out $DETECTRON2_DATASETS/lits \
        [--window -100 400 --size 640]
"""
from box2mask.data.testbeds import convert_lits, log_written, prepare_cli


def main(argv=None):
    parser = prepare_cli(__doc__, "lits")
    parser.add_argument("--lits", required=True,
                        help="folder holding volume-<N>.nii and segmentation-<N>.nii (any depth)")
    parser.add_argument("--window", type=float, nargs=2, default=(-100.0, 400.0),
                        metavar=("LOW", "HIGH"), help="Hounsfield-unit window mapped to 0..255")
    parser.add_argument("--size", type=int, default=640, help="side of the resized slices")
    args = parser.parse_args(argv)
    written = convert_lits(args.lits, args.out, window=tuple(args.window), size=args.size)
    log_written(args.out, written)


if __name__ == "__main__":
    main()
