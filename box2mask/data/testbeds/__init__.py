"""Converters of the official VOC + SBD, COCO, iSAID, LiTS, ReCTS and DOTA downloads into
COCO-format sets, and the registration of the names the testbed configs use (on import)."""
import os

from .coco import convert_coco
from .common import log_written, prepare_cli
from .dota import DOTA_CLASSES, convert_dota, dota_windows
from .isaid import ISAID_CLASSES, convert_isaid, patch_windows
from .lits import LITS_CLASSES, convert_lits
from .rects import RECTS_CLASSES, convert_rects
from .register import TESTBED_SPLITS, register_testbeds
from .voc import VOC_CLASSES, convert_voc_sbd

register_testbeds(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))
