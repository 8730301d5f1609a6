"""Registered COCO sets load into a compact SerializedDicts (one buffer of pickled dicts) whose
items are the dicts of detectron2's own loader; training filters and concatenates it without
turning it into a list. What it saves in memory is measured by benchmarks/memory.py."""
import json
import pickle

import numpy as np
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog, get_detection_dataset_dicts

from box2mask import add_box2mask_config
from box2mask.data import (
    SerializedDicts,
    build_train_dataset,
    load_box_coco_json,
    register_box_coco,
)
from box2mask.engine import Trainer


def _rich_json(tmp_path):
    """Every kind of annotation detectron2's loader treats specially: polygons (one invalid),
    uncompressed RLE, keypoints, crowd, fields detectron2 does not copy (area, license),
    non-contiguous category ids, images out of id order, a crowd-only and an empty image,
    degenerate and partly outside boxes."""
    images = [{"id": i, "file_name": f"{i}.png", "height": 40, "width": 50, "license": 1}
              for i in (5, 2, 9, 3)]
    anns = [
        {"id": 1, "image_id": 5, "bbox": [1, 2, 10, 12], "category_id": 42, "iscrowd": 0,
         "segmentation": [[1, 2, 11, 2, 11, 14, 1, 14], [0, 0, 1, 1]], "area": 120},
        {"id": 2, "image_id": 2, "bbox": [3, 3, 5, 5], "category_id": 7, "iscrowd": 0,
         "segmentation": {"size": [40, 50], "counts": [103, 5, 35, 5, 1852]}},
        {"id": 3, "image_id": 5, "bbox": [40, 30, 20, 20], "category_id": 7, "iscrowd": 0,
         "keypoints": [1, 2, 2, 3, 4, 1]},
        {"id": 4, "image_id": 9, "bbox": [0, 0, 8, 8], "category_id": 42, "iscrowd": 1},
        {"id": 5, "image_id": 2, "bbox": [5, 5, 0, 4], "category_id": 7, "iscrowd": 0},
        {"id": 6, "image_id": 5, "bbox": [4, 4, 6, 6], "category_id": 7, "iscrowd": 0,
         "segmentation": [[1, 2, 3, 4]]},  # no valid polygon: left out, as detectron2 does
    ]
    path = tmp_path / "rich.json"
    path.write_text(json.dumps({"info": {"year": 2024}, "images": images, "annotations": anns,
                                "categories": [{"id": 42, "name": "p"}, {"id": 7, "name": "q"}]}))
    return path


@pytest.mark.parametrize("which", ["coco_set", "rich"])
def test_registered_set_is_serialized_and_equals_detectron2s_loader(coco_set, tmp_path, which):
    json_path, image_dir = coco_set if which == "coco_set" else (_rich_json(tmp_path), tmp_path)
    name = f"t_serialized_{which}"
    register_box_coco(name, json_path, image_dir)
    dicts = DatasetCatalog.get(name)
    assert isinstance(dicts, SerializedDicts)
    plain = load_box_coco_json(str(json_path), str(image_dir), f"{name}_plain")
    assert len(dicts) == len(plain) and list(dicts) == plain
    for key in ("thing_classes", "thing_dataset_id_to_contiguous_id"):
        assert MetadataCatalog.get(name).get(key) == MetadataCatalog.get(f"{name}_plain").get(key)
    assert dicts.num_instances.tolist() == [
        sum(not a.get("iscrowd", 0) for a in d["annotations"]) for d in plain
    ]


def test_serialized_dicts_behave_as_a_read_only_sequence():
    records = [{"image_id": i, "annotations": [{"iscrowd": i % 2}] * i} for i in range(5)]
    dicts = SerializedDicts.from_dicts(records)
    assert len(dicts) == 5 and list(dicts) == records
    assert dicts[-1] == records[-1] and dicts[1:4] == records[1:4] and dicts[::-2] == records[::-2]
    assert dicts[np.int64(2)] == records[2]
    with pytest.raises(IndexError):
        dicts[5]
    dicts[3]["image_id"] = 99  # a fresh dict each time
    assert dicts[3]["image_id"] == 3
    assert dicts.num_instances.tolist() == [0, 0, 2, 0, 4]
    subset = dicts.subset([4, 0])
    assert list(subset) == [records[4], records[0]]
    assert np.shares_memory(subset._buffer, dicts._buffer)  # no copy of the data
    both = SerializedDicts.concat([subset, dicts])
    assert list(both) == [records[4], records[0], *records]
    assert list(pickle.loads(pickle.dumps(both))) == list(both)  # to spawned loader workers
    assert list(SerializedDicts.from_dicts([])) == []


def test_training_filters_and_concatenates_the_buffer(coco_set, tmp_path):
    json_path, image_dir = coco_set
    register_box_coco("t_serialized_train", json_path, image_dir)
    register_box_coco("t_serialized_rich_train", _rich_json(tmp_path), tmp_path)
    plain = load_box_coco_json(str(json_path), str(image_dir), "t_serialized_train_list")
    DatasetCatalog.register("t_serialized_list", lambda: plain)  # a set loaded as a list
    MetadataCatalog.get("t_serialized_list").thing_classes = ["a", "b"]

    kept = build_train_dataset(["t_serialized_train"], filter_empty=True)
    assert isinstance(kept, SerializedDicts) and [d["image_id"] for d in kept] == [1, 2]
    assert len(build_train_dataset(["t_serialized_train"], filter_empty=False)) == 3
    # the crowd-only image 9 and the empty image 3 are left out
    rich = build_train_dataset(["t_serialized_rich_train"], filter_empty=True)
    assert [d["image_id"] for d in rich] == [2, 5]
    mixed = build_train_dataset(["t_serialized_train", "t_serialized_list"], filter_empty=True)
    assert isinstance(mixed, SerializedDicts) and list(mixed) == [*plain[:2], *plain[:2]]
    with pytest.raises(ValueError, match="thing_classes"):
        build_train_dataset(["t_serialized_train", "t_serialized_rich_train"])
    # evaluation keeps every image (detectron2's test loader takes the set as it is)
    assert len(get_detection_dataset_dicts(["t_serialized_train"], filter_empty=False)) == 3


def test_trainer_trains_on_the_compact_buffer(coco_set):
    json_path, image_dir = coco_set
    register_box_coco("t_serialized_loader", json_path, image_dir)
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_list(["DATASETS.TRAIN", "('t_serialized_loader',)", "SOLVER.IMS_PER_BATCH",
                         "2", "DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TRAIN", "(64,)"])
    loader = Trainer.build_train_loader(cfg)
    node = loader
    for _ in range(8):  # the wrappers of build_detection_train_loader, down to the data set
        if isinstance(node, SerializedDicts):
            break
        node = next((getattr(node, a) for a in ("dataset", "_dataset") if hasattr(node, a)), None)
    assert isinstance(node, SerializedDicts) and len(node) == 2  # the empty image left out
    batch = next(iter(loader))
    assert len(batch) == 2 and {d["image_id"] for d in batch} <= {1, 2}
