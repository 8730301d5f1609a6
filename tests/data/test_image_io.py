import cv2
import numpy as np
import pytest

from box2mask.data import read_image


def test_grayscale_rgba_16bit(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    out = read_image(str(tmp_path / "g.png"))
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    assert (out[..., 0] == gray).all() and (out[..., 2] == gray).all()

    bgra = np.zeros((5, 7, 4), np.uint8)
    bgra[..., 0], bgra[..., 2], bgra[..., 3] = 10, 200, 255
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    rgb = read_image(str(tmp_path / "a.png"), format="RGB")
    assert rgb.shape == (5, 7, 3) and (rgb[..., 0] == 200).all() and (rgb[..., 2] == 10).all()

    deep = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 200)  # a 12-bit range
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    out = read_image(str(tmp_path / "d.png"))
    assert out.dtype == np.uint8 and out.max() == 255 and out.min() == 0
    assert (np.diff(out[..., 0].ravel().astype(int)) >= 0).all()  # order kept


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png: image file does not exist"):
        read_image(str(tmp_path / "missing.png"))
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ValueError, match="corrupt.jpg: cannot decode"):
        read_image(str(bad))
