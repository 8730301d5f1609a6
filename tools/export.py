#!/usr/bin/env python
"""Export Box2Mask-C's inference up to the mask logits and scores: TorchScript or ONNX.

    python tools/export.py --config-file CFG --weights W.pth --format onnx|torchscript --out F \
        [--height 320 --width 320]

The exported graph maps one image [1, 3, H, W] (0-255, INPUT.FORMAT channel order, H and W
multiples of the backbone's size divisibility) to ``scores`` [M, K] (category probabilities
after points-NMS, M grid cells of all levels, K classes) and ``mask_logits`` [M, H/4, W/4]
(each cell's dynamic kernel on the mask feature). The rest stays in Python: choosing the
candidates, Matrix NMS and resizing the masks to the image (``Box2MaskCPostProcessor``) have
data-dependent shapes, and the training losses are not needed. Box2Mask-T is not exported:
its pixel decoder runs multi-scale deformable attention, a compiled op of this project that
neither TorchScript files nor ONNX runtimes can carry.
"""
import argparse
import sys
from pathlib import Path
from typing import Tuple

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from torch import nn

from box2mask import add_box2mask_config
from box2mask.modeling.box2mask_c.postprocess import points_nms

FORMATS = ("torchscript", "onnx")


class Box2MaskCRaw(nn.Module):
    """Box2Mask-C from the image to (scores [M, K], mask_logits [M, h, w]), batch of one."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = (image[0] - m.pixel_mean) / m.pixel_std
        category_logits, kernels, mask_features = m.forward_heads(x[None])
        mask_features = mask_features[0]  # [D, h, w]
        scores = []
        for grid in category_logits:  # [1, K, S, S] per level
            probs = points_nms(grid.sigmoid())[0]
            scores.append(probs.reshape(probs.shape[0], -1).t())
        kernels = torch.cat([k[0].reshape(k.shape[1], -1).t() for k in kernels])  # [M, D]
        d, h, w = mask_features.shape
        mask_logits = (kernels @ mask_features.reshape(d, h * w)).reshape(-1, h, w)
        return torch.cat(scores), mask_logits


def load_model(config_file: str, weights: str) -> nn.Module:
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.MODEL.DEVICE = "cpu"
    if cfg.MODEL.META_ARCHITECTURE != "Box2MaskC":
        raise NotImplementedError(
            f"{config_file}: {cfg.MODEL.META_ARCHITECTURE} cannot be exported: only Box2MaskC "
            "(Box2Mask-T's multi-scale deformable attention is a compiled op of this project "
            "that TorchScript files and ONNX runtimes cannot carry)"
        )
    if not Path(weights).is_file():
        raise FileNotFoundError(f"{weights}: weights file does not exist")
    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(weights)
    return model


def export(model: nn.Module, fmt: str, out: str, height: int, width: int) -> None:
    """Write ``out`` in ``fmt`` for [1, 3, height, width] images."""
    divisibility = model.backbone.size_divisibility or 1
    if height % divisibility or width % divisibility:
        raise ValueError(f"--height/--width must be multiples of {divisibility}")
    raw = Box2MaskCRaw(model).eval()
    example = torch.rand(1, 3, height, width) * 255
    with torch.no_grad():
        if fmt == "torchscript":
            torch.jit.trace(raw, example).save(out)
        elif fmt == "onnx":
            torch.onnx.export(raw, (example,), out, input_names=["image"],
                              output_names=["scores", "mask_logits"], dynamo=False)
        else:
            raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=320)
    args = parser.parse_args(argv)
    export(load_model(args.config_file, args.weights), args.format, args.out, args.height,
           args.width)
    print(f"wrote {args.out} ({args.format}): image [1, 3, {args.height}, {args.width}] -> "
          "scores [M, K], mask_logits [M, h, w]")


if __name__ == "__main__":
    sys.exit(main())
