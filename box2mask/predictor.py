"""``Predictor``: a trained Box2Mask model behind one call, image in, ``Instances`` out.

    predictor = box2mask.Predictor("configs/demo/box2mask_c_effnet_lite0.yaml", "model.pth")
    instances = predictor("photo.jpg")  # or an RGB uint8 array [H, W, 3]
    instances.pred_masks, instances.pred_boxes, instances.scores, instances.pred_classes

The test-time resize (INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST) and channel order (INPUT.FORMAT)
come from the config, as in detectron2's ``DefaultPredictor``; the outputs are at the size of
the given image, on the CPU.
"""
import os
from typing import Optional, Sequence, Union

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T
from detectron2.modeling import build_model
from detectron2.structures import Instances

from .config import add_box2mask_config
from .data.image_io import read_image

__all__ = ["Predictor"]


class Predictor:
    """Inference of a trained Box2Mask model (Box2Mask-C or Box2Mask-T) on single images.

    Attributes:
        cfg: the frozen config the model was built from.
        model: the model, in eval mode on ``cfg.MODEL.DEVICE``.
        metadata: ``MetadataCatalog`` entry of the config's first test set (class names).
    """

    def __init__(
        self,
        config_file: Union[str, os.PathLike],
        weights: Optional[Union[str, os.PathLike]],
        device: Optional[str] = None,
        opts: Sequence[str] = (),
    ):
        """
        Args:
            config_file: a Box2Mask yaml (e.g. configs/demo/box2mask_c_effnet_lite0.yaml).
            weights: checkpoint path or URL; None takes MODEL.WEIGHTS of the config / ``opts``.
            device: "cpu", "cuda", "cuda:1", ...; None: the first GPU if one is visible, else
                the CPU.
            opts: "KEY VALUE" config overrides, as detectron2's command lines take them.

        Raises:
            FileNotFoundError naming the config or weights file when it does not exist.
        """
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"{config_file}: config file does not exist")
        cfg = get_cfg()
        add_box2mask_config(cfg)
        cfg.merge_from_file(str(config_file))
        cfg.merge_from_list(list(opts))
        if weights is not None:
            cfg.MODEL.WEIGHTS = os.fspath(weights)
        if not cfg.MODEL.WEIGHTS:
            raise ValueError(f"{config_file}: no weights given (weights=None and no MODEL.WEIGHTS)")
        if "://" not in cfg.MODEL.WEIGHTS and not os.path.isfile(cfg.MODEL.WEIGHTS):
            raise FileNotFoundError(f"{cfg.MODEL.WEIGHTS}: weights file does not exist")
        cfg.MODEL.DEVICE = device or ("cuda" if torch.cuda.is_available() else "cpu")
        cfg.freeze()
        self.cfg = cfg
        self.model = build_model(cfg).eval()
        DetectionCheckpointer(self.model).load(cfg.MODEL.WEIGHTS)
        self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "__unused")
        self._resize = T.ResizeShortestEdge(
            [cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MIN_SIZE_TEST], cfg.INPUT.MAX_SIZE_TEST
        )

    def __call__(self, image: Union[str, os.PathLike, np.ndarray]) -> Instances:
        """Predict the instances of one image.

        Args:
            image: a file path (any format ``read_image`` takes), or an RGB uint8 array
                [H, W, 3] (a [H, W] grayscale array is replicated to 3 channels).

        Returns:
            ``Instances`` of image size (H, W) on the CPU: pred_masks [N, H, W] bool,
            pred_boxes ``Boxes`` [N, 4] xyxy pixels, scores [N] float, pred_classes [N] long
            (contiguous ids 0..K-1), every prediction the model keeps (no score threshold
            beyond the model's own).

        Raises:
            FileNotFoundError / ValueError naming the file when it cannot be read, ValueError
            for an array of another shape or type.
        """
        if isinstance(image, (str, os.PathLike)):
            rgb = read_image(os.fspath(image), format="RGB")
        else:
            rgb = _check_rgb(image)
        pixels = rgb if self.cfg.INPUT.FORMAT == "RGB" else rgb[:, :, ::-1]
        height, width = pixels.shape[:2]
        resized = self._resize.get_transform(pixels).apply_image(pixels)
        tensor = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))
        with torch.no_grad():
            output = self.model([{"image": tensor, "height": height, "width": width}])[0]
        return output["instances"].to("cpu")


def _check_rgb(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 [H, W, 3] array (a [H, W] array replicated), or a ValueError."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"Predictor: expected a path or a uint8 RGB array, got {kind}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
        raise ValueError(f"Predictor: expected an RGB array [H, W, 3], got shape {image.shape}")
    return image
