#!/usr/bin/env python
"""DOTA-v1.0 → 1024×1024 patches: ``OUT/{train,val}.json``, ``OUT/images/`` and
``OUT/val_labelTxt/`` (see README.md).

    python projects/DOTA/prepare.py --dota DOTA_ROOT --out $DETECTRON2_DATASETS/dota \
        [--patch 1024 --overlap 200]
"""
from box2mask.data.testbeds import convert_dota, log_written, prepare_cli


def main(argv=None):
    parser = prepare_cli(__doc__, "dota")
    parser.add_argument("--dota", required=True,
                        help="folder holding {train,val}/images and {train,val}/labelTxt")
    parser.add_argument("--patch", type=int, default=1024, help="patch side in pixels")
    parser.add_argument("--overlap", type=int, default=200, help="overlap of patches in pixels")
    args = parser.parse_args(argv)
    written = convert_dota(args.dota, args.out, patch=args.patch, overlap=args.overlap)
    log_written(args.out, written)


if __name__ == "__main__":
    main()
