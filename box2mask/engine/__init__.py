"""Training and evaluation: detectron2's trainer with Box2Mask's builders, and the command line
of ``train_net.py``."""
from .checkpoint import Box2MaskCheckpointer
from .cli import (
    add_register_coco_argument,
    argument_parser,
    check_num_classes,
    check_weights_loaded,
    default_output_dir,
    load_config,
    main,
    register_coco_sets,
    setup,
    strict_json,
)
from .launch import launch
from .trainer import CPUAutocastTrainer, Trainer, with_full_model_clipping
