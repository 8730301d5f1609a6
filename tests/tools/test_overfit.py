"""tools/overfit.py."""

import pytest

from detectron2.config import get_cfg

from box2mask import add_box2mask_config
from tools import overfit


@pytest.mark.parametrize("model", ["c", "t"])
def test_overfit_input_size_overrides_the_demo_config(model):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(overfit.CONFIGS[model]))
    cfg.merge_from_list(overfit.input_size_opts(model, 640))
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == (640, 1066)
    if model == "t":
        assert cfg.INPUT.LSJ.IMAGE_SIZE == 640
    else:
        assert (tuple(cfg.INPUT.MIN_SIZE_TRAIN), cfg.INPUT.MAX_SIZE_TRAIN) == ((640,), 1066)
