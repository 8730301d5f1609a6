#!/usr/bin/env python
"""Train and evaluate Box2Mask with detectron2's trainer (``box2mask.engine``).

    python train_net.py --config-file configs/demo/box2mask_c_effnet_lite0.yaml
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS model_final.pth
    python train_net.py --config-file CFG --register-coco mine train.json images/ \\
        DATASETS.TRAIN "('mine',)" MODEL.BOX2MASK.NUM_CLASSES 3

Box-supervised: the data mapper passes boxes and classes only (masks only when
``MODEL.BOX2MASK.SUPERVISION mask``); each test set is evaluated by its data set's evaluator.
"""
from box2mask.engine import argument_parser, launch, main

if __name__ == "__main__":
    args = argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
