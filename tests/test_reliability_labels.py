"""One class and odd label sets: NUM_CLASSES 1 trains both models without NaN; category ids
that are not contiguous (7, 42) and a category without annotations train and evaluate."""
import json

import pytest
import torch
from detectron2.modeling import build_model

from modeling.box2mask_c.test_meta_arch import make_input as c_input
from tiny_model import tiny_c_cfg
from modeling.box2mask_t.conftest import make_tiny_cfg as tiny_t_cfg
from test_train_net import _run


@pytest.mark.parametrize("model_name", ["c", "t"])
def test_one_class_trains_without_nan(model_name):
    torch.manual_seed(0)
    cfg = tiny_c_cfg() if model_name == "c" else tiny_t_cfg()
    cfg.MODEL.BOX2MASK.NUM_CLASSES = 1
    model = build_model(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = [
        c_input([[5, 10, 30, 40], [50, 20, 80, 60]], [0, 0], seed=0),
        c_input([[0, 0, 96, 64]], [0], seed=1),  # a box as large as the image
        c_input([], [], seed=2),  # no instance
    ]
    for _ in range(3):
        losses = model(batch)
        assert all(torch.isfinite(v) for v in losses.values()), losses
        optimizer.zero_grad()
        sum(losses.values()).backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        optimizer.step()


def test_non_contiguous_ids_and_a_category_without_annotations(coco_set, tmp_path):
    json_path, image_dir = coco_set
    data = json.loads(json_path.read_text())
    ids = {1: 7, 2: 42}
    for a in data["annotations"]:
        a["category_id"] = ids[a["category_id"]]
    data["categories"] = [{"id": 7, "name": "a"}, {"id": 42, "name": "b"},
                          {"id": 99, "name": "never"}]
    json_path.write_text(json.dumps(data))
    out = tmp_path / "run"
    results = _run(out, json_path, image_dir, "MODEL.BOX2MASK.NUM_CLASSES", "3",
                   "MODEL.BOX2MASK_C.PRIOR_PROB", "0.5", "MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD",
                   "0.5", name="tn_odd_ids")
    predictions = json.loads((out / "inference/tn_odd_ids/coco_instances_results.json").read_text())
    assert predictions and {p["category_id"] for p in predictions} <= {7, 42, 99}
    for task in ("bbox", "segm"):
        assert {"AP-a", "AP-b", "AP-never"} <= set(results[task])
    final = json.loads((out / "final_results.json").read_text())
    assert final["segm"]["AP-never"] is None  # no ground truth: NaN in detectron2, null here
