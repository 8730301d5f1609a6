"""The box-supervised dataset mapper: image + boxes + classes (masks only when asked)."""
import copy
import logging
from typing import List

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from .image_io import read_image

__all__ = ["BoxSupervisedDatasetMapper", "build_box2mask_augmentation"]


def build_box2mask_augmentation(cfg, is_train: bool) -> List[T.Augmentation]:
    """detectron2's resize + flip, or large-scale jitter (``cfg.INPUT.LSJ``) in training."""
    if is_train and cfg.INPUT.LSJ.ENABLED:
        size = cfg.INPUT.LSJ.IMAGE_SIZE
        augs = [
            T.ResizeScale(cfg.INPUT.LSJ.MIN_SCALE, cfg.INPUT.LSJ.MAX_SCALE, size, size),
            T.FixedSizeCrop(crop_size=(size, size)),
        ]
        if cfg.INPUT.RANDOM_FLIP != "none":
            augs.append(T.RandomFlip(horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                                     vertical=cfg.INPUT.RANDOM_FLIP == "vertical"))
        return augs
    return utils.build_augmentation(cfg, is_train)


class BoxSupervisedDatasetMapper:
    """Map a detectron2 dataset dict to the model's input.

    In training it yields ``image`` (uint8 tensor [3, H, W] in ``image_format``) and
    ``instances`` with ``gt_boxes`` (XYXY, input pixels, clipped) and ``gt_classes``; it never
    yields ``gt_masks`` unless ``use_instance_mask`` (the mask-supervised reference).
    At test time it yields the image only (evaluators read the ground truth themselves).
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: List[T.Augmentation],
        image_format: str,
        use_instance_mask: bool = False,
        instance_mask_format: str = "bitmask",
    ):
        """
        Args:
            is_train: training (annotations kept) or inference (image only).
            augmentations: detectron2 augmentations applied to image and boxes.
            image_format: "BGR" or "RGB", the channel order the model expects.
            use_instance_mask: keep ground-truth masks (only for ``SUPERVISION: mask``).
            instance_mask_format: "bitmask" or "polygon", when masks are kept.
        """
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.use_instance_mask = use_instance_mask
        self.instance_mask_format = instance_mask_format
        logging.getLogger(__name__).info(
            f"[BoxSupervisedDatasetMapper] {'train' if is_train else 'test'}: {augmentations}, "
            f"masks {'kept (mask supervision)' if use_instance_mask else 'never passed'}"
        )

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {
            "is_train": is_train,
            "augmentations": build_box2mask_augmentation(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "use_instance_mask": is_train and cfg.MODEL.BOX2MASK.SUPERVISION == "mask",
            "instance_mask_format": cfg.INPUT.MASK_FORMAT,
        }

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        file_name = dataset_dict["file_name"]
        image = read_image(file_name, format=self.image_format)
        utils.check_image_size(dataset_dict, image)

        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        image_shape = image.shape[:2]
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))

        annotations = dataset_dict.pop("annotations", None)
        if not self.is_train or annotations is None:
            return dataset_dict

        annos = []
        for obj in annotations:
            if obj.get("iscrowd", 0):
                continue
            if not self.use_instance_mask:
                obj.pop("segmentation", None)
            elif "segmentation" not in obj:
                raise ValueError(
                    f"{file_name}: SUPERVISION 'mask' needs a 'segmentation' for every "
                    "instance, but an annotation has none"
                )
            obj.pop("keypoints", None)
            annos.append(utils.transform_instance_annotations(obj, transforms, image_shape))
        instances = utils.annotations_to_instances(
            annos, image_shape, mask_format=self.instance_mask_format
        )
        instances.gt_boxes.clip(image_shape)
        dataset_dict["instances"] = utils.filter_empty_instances(instances)
        return dataset_dict
