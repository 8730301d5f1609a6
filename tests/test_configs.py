from pathlib import Path

import pytest
from detectron2.config import get_cfg

from box2mask import add_box2mask_config

CONFIGS = sorted(str(p) for p in (Path(__file__).parents[1] / "configs").rglob("*.yaml"))


def test_configs_exist():
    assert len(CONFIGS) >= 1


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.split("configs/")[-1])
def test_config_loads(path):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(path)
    assert cfg.MODEL.BOX2MASK.SUPERVISION in ("box", "mask")


def test_add_config_twice_is_harmless():
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.MODEL.BOX2MASK.NUM_CLASSES = 3
    add_box2mask_config(cfg)
    assert cfg.MODEL.BOX2MASK.NUM_CLASSES == 3
