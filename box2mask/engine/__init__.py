"""Training and evaluation: detectron2's trainer with Box2Mask's builders, and the command line
of ``train_net.py``."""
from .cli import (
    add_register_coco_argument,
    argument_parser,
    check_num_classes,
    main,
    register_coco_sets,
    setup,
)
from .trainer import Trainer, with_full_model_clipping
