"""Image reading that turns any common image file into 8-bit 3-channel, or says what is wrong."""
import os

import cv2
import numpy as np

__all__ = ["read_image"]


def read_image(file_name: str, format: str = "BGR") -> np.ndarray:
    """Read an image as uint8 [H, W, 3] in ``format`` ("BGR" or "RGB").

    Grayscale is replicated to 3 channels, alpha is dropped, and 16-bit images are rescaled
    to 8-bit by their own maximum (so a 12-bit scan keeps its contrast).

    Raises:
        FileNotFoundError / ValueError naming the file when it is missing or unreadable.
    """
    if format not in ("BGR", "RGB"):
        raise ValueError(f"read_image: format must be 'BGR' or 'RGB', got {format!r}")
    image = cv2.imread(str(file_name), cv2.IMREAD_UNCHANGED)
    if image is None:
        if not os.path.exists(file_name):
            raise FileNotFoundError(f"{file_name}: image file does not exist")
        raise ValueError(f"{file_name}: cannot decode the image (corrupt or unsupported format)")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) * (255.0 / max(int(image.max()), 1))).round()
        image = image.astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"{file_name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.shape[2] != 3:
        raise ValueError(f"{file_name}: unsupported number of channels {image.shape[2]}")
    if format == "RGB":
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)
