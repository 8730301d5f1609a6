#!/usr/bin/env python
"""COCO 2017 → ``OUT/{train,val}.json`` (and ``OUT/test-dev.json``) and ``OUT/images/``
(see README.md).

    python projects/COCO/prepare.py --coco COCO_ROOT --out $DETECTRON2_DATASETS/coco [--test-dev]
"""
from box2mask.data.testbeds import convert_coco, log_written, prepare_cli


def main(argv=None):
    parser = prepare_cli(__doc__, "coco")
    parser.add_argument("--coco", required=True,
                        help="folder holding annotations/, train2017/ and val2017/")
    parser.add_argument("--test-dev", action="store_true",
                        help="also write test-dev.json from annotations/image_info_test-dev2017"
                        ".json and test2017/")
    args = parser.parse_args(argv)
    written = convert_coco(args.coco, args.out, test_dev=args.test_dev)
    log_written(args.out, written)


if __name__ == "__main__":
    main()
