import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, build_detection_train_loader

from box2mask import BoxSupervisedDatasetMapper, add_box2mask_config, register_box_coco


def _cfg(supervision="box"):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.INPUT.MIN_SIZE_TRAIN = (48, 64)
    cfg.INPUT.MAX_SIZE_TRAIN = 100
    cfg.MODEL.BOX2MASK.SUPERVISION = supervision
    return cfg


def test_training_batch_from_masked_json_has_no_masks(coco_set):
    json_path, image_dir = coco_set
    register_box_coco("t_mapper", json_path, image_dir)
    cfg = _cfg()
    cfg.DATASETS.TRAIN = ("t_mapper",)
    cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS = False
    cfg.SOLVER.IMS_PER_BATCH = 3
    cfg.DATALOADER.NUM_WORKERS = 0
    loader = build_detection_train_loader(cfg, mapper=BoxSupervisedDatasetMapper(cfg, True))
    batch = next(iter(loader))
    assert len(batch) == 3
    counts = sorted(len(x["instances"]) for x in batch)
    assert counts[0] == 0  # the image without instances is kept
    for x in batch:
        inst = x["instances"]
        assert set(inst.get_fields()) == {"gt_boxes", "gt_classes"}
        h, w = x["image"].shape[1:]
        assert x["image"].dtype == torch.uint8 and min(h, w) in (48, 64)
        boxes = inst.gt_boxes.tensor
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()


def test_mask_supervision_keeps_masks_and_test_mode_drops_annotations(coco_set):
    json_path, image_dir = coco_set
    register_box_coco("t_mapper_mask", json_path, image_dir)
    d = DatasetCatalog.get("t_mapper_mask")[0]
    out = BoxSupervisedDatasetMapper(_cfg("mask"), True)(d)
    assert out["instances"].gt_masks.tensor.shape[0] == 2
    out = BoxSupervisedDatasetMapper(_cfg(), False)(d)
    assert "instances" not in out and "annotations" not in out


def test_every_demo_config_reads_rle_masks_for_mask_supervision(coco_set):
    json_path, image_dir = coco_set
    register_box_coco("t_mapper_rle", json_path, image_dir)
    d = DatasetCatalog.get("t_mapper_rle")[0]
    assert isinstance(d["annotations"][0]["segmentation"], dict)  # RLE
    for name in ("box2mask_c_effnet_lite0", "box2mask_t_effnet_lite0"):
        cfg = get_cfg()
        add_box2mask_config(cfg)
        cfg.merge_from_file(f"configs/demo/{name}.yaml")
        cfg.MODEL.BOX2MASK.SUPERVISION = "mask"
        out = BoxSupervisedDatasetMapper(cfg, True)(d)
        assert out["instances"].gt_masks.tensor.shape[0] == 2


def test_lsj_output_is_square(coco_set):
    json_path, image_dir = coco_set
    register_box_coco("t_mapper_lsj", json_path, image_dir)
    cfg = _cfg()
    cfg.INPUT.LSJ.ENABLED = True
    cfg.INPUT.LSJ.IMAGE_SIZE = 96
    out = BoxSupervisedDatasetMapper(cfg, True)(DatasetCatalog.get("t_mapper_lsj")[0])
    assert tuple(out["image"].shape) == (3, 96, 96)
