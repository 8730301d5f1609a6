#!/usr/bin/env python
"""Pascal VOC 2012 + SBD → ``OUT/{train,val}.json`` and ``OUT/images/`` (see README.md).

    python projects/VOC/prepare.py --voc VOCdevkit/VOC2012 --sbd benchmark_RELEASE/dataset \
        --out $DETECTRON2_DATASETS/voc
"""
from box2mask.data.testbeds import convert_voc_sbd, log_written, prepare_cli


def main(argv=None):
    parser = prepare_cli(__doc__, "voc")
    parser.add_argument("--voc", required=True, help="the unpacked VOCdevkit/VOC2012 folder")
    parser.add_argument("--sbd", required=True, help="the unpacked benchmark_RELEASE/dataset")
    args = parser.parse_args(argv)
    written = convert_voc_sbd(args.voc, args.sbd, args.out)
    log_written(args.out, written)


if __name__ == "__main__":
    main()
