#!/usr/bin/env python
"""iSAID → 800×800 patches: ``OUT/{train,val}.json`` and ``OUT/images/`` (see README.md).

    python projects/iSAID/prepare.py --isaid ISAID_ROOT --out $DETECTRON2_DATASETS/isaid \
        [--patch 800 --overlap 200]
"""
from box2mask.data.testbeds import convert_isaid, log_written, prepare_cli


def main(argv=None):
    parser = prepare_cli(__doc__, "isaid")
    parser.add_argument("--isaid", required=True,
                        help="folder holding {train,val}/images and {train,val}/Annotations")
    parser.add_argument("--patch", type=int, default=800, help="patch side in pixels")
    parser.add_argument("--overlap", type=int, default=200, help="overlap of patches in pixels")
    args = parser.parse_args(argv)
    written = convert_isaid(args.isaid, args.out, patch=args.patch, overlap=args.overlap)
    log_written(args.out, written)


if __name__ == "__main__":
    main()
