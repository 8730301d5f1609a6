"""Pictures: predicted instances, ground truth, and the two side by side."""
import numpy as np
from detectron2.utils.visualizer import ColorMode, Visualizer

__all__ = ["draw_predictions", "draw_ground_truth", "side_by_side"]


def draw_predictions(image_rgb: np.ndarray, instances, metadata, min_score: float = 0.3):
    """Overlay predicted masks, boxes, classes and scores >= ``min_score``.

    Args:
        image_rgb: uint8 [H, W, 3]. instances: detectron2 ``Instances`` on the CPU.
    Returns: uint8 [H, W, 3] RGB.
    """
    instances = instances[instances.scores >= min_score]
    vis = Visualizer(image_rgb, metadata, instance_mode=ColorMode.IMAGE)
    return vis.draw_instance_predictions(instances).get_image()


def draw_ground_truth(image_rgb: np.ndarray, dataset_dict: dict, metadata):
    """Overlay the annotations (masks where present, else boxes) of a dataset dict."""
    vis = Visualizer(image_rgb, metadata)
    return vis.draw_dataset_dict(dataset_dict).get_image()


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Two RGB images of equal height next to each other with a white gap."""
    h = max(left.shape[0], right.shape[0])
    canvas = np.full((h, left.shape[1] + gap + right.shape[1], 3), 255, np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] + gap :] = right
    return canvas
