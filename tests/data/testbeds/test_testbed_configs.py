"""The VOC, COCO, iSAID, LiTS, ReCTS and DOTA configs load and name registered data sets of
their testbed."""
from pathlib import Path

import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from box2mask import add_box2mask_config
from box2mask.data.testbeds import TESTBED_SPLITS

CONFIGS = sorted(str(p) for d in ("voc", "coco", "isaid", "lits", "rects", "dota")
                 for p in (Path(__file__).parents[3] / "configs" / d).glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.split("configs/")[-1])
def test_config_names_registered_testbed_sets(path):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(path)
    folder = Path(path).parent.name
    for name in (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST):
        assert name in DatasetCatalog.list() and TESTBED_SPLITS[name][0] == folder
        classes = MetadataCatalog.get(name).get("thing_classes")
        assert classes is None or len(classes) == cfg.MODEL.BOX2MASK.NUM_CLASSES
