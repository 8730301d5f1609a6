"""Which box-supervised loss term pushes a trained Box2Mask-T model's masks into the holes.

    python -m tools.hole_gradients RUN_DIR [--dataset synthetic_val] [--images 40]
                                        [--category ring] [--seed 0]

Loads RUN_DIR's ``config.yaml`` and ``model_final.pth``, feeds the first ``--images`` images of
``--dataset`` (masks needed, to know the holes) through the training mapper (the config's
augmentation, seeded) and the model in training mode, matches the last layer's predictions to the
ground-truth boxes with the model's own matcher and, for every matched instance of ``--category``
whose ground-truth mask (at mask resolution) has a hole of at least 2 pixels, computes the
gradient of each weighted loss term (projection, image level set, histogram level set,
deep-structural level set, LCM, the two background BCEs) with respect to that prediction's mask
logits, on its own (one instance: no averaging over the batch). Prints, per term, the mean gradient over the hole's pixels (negative: gradient
descent raises the logits, i.e. fills the hole) and the fraction of instances where it is
negative, and the mean probability in the holes and on the objects. The last printed line is
``instances <N> mean_hole_prob <p> image_term_opens <fraction>``.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch


from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog

from box2mask import BoxSupervisedDatasetMapper, add_box2mask_config
from box2mask.losses import BoxSupervisedMaskLoss
from tools.hole_fill import dataset_classes, hole_of
from box2mask.engine import Trainer

# term -> the loss weight keys it keeps (every other weight is set to 0)
TERMS = {
    "projection": ("projection_weight",),
    "image level set": ("levelset_image_weight",),
    "histogram level set": ("histogram_weight",),
    "deep-structural level set": ("levelset_feature_weight",),
    "LCM": ("lcm_weight",),
    "background ring": ("outside_weight",),
    "beyond the ring": ("far_outside_weight",),
}
WEIGHT_KEYS = [key for keys in TERMS.values() for key in keys]


def single_term_losses(cfg) -> dict:
    """term name -> a BoxSupervisedMaskLoss of ``cfg`` with every other term's weight at 0."""
    kwargs = BoxSupervisedMaskLoss.from_config(cfg)
    return {
        name: BoxSupervisedMaskLoss(**{**kwargs, **{k: 0.0 for k in WEIGHT_KEYS if k not in keep}})
        for name, keep in TERMS.items()
    }


def term_gradients(losses: dict, term, logits, box, image, guide) -> dict:
    """term name -> d(weighted loss)/d(logits), [h, w], of one instance.

    Args:
        losses: :func:`single_term_losses`; term: the model's ``criterion.mask_term``.
        logits: [h, w] mask logits; box: [1, 4] (x0, y0, x1, y1) at mask resolution;
        image: [1, 3, h, w] the loss's image at mask resolution; guide: [1, G, h, w] or None.
    """
    grads = {}
    for name, loss in losses.items():
        x = logits.detach().clone().requires_grad_(True)
        out = loss(
            x[None],
            box,
            torch.zeros(1, dtype=torch.long),
            image,
            guide=guide,
            structural_targets_fn=term.structural_targets_fn,
        )
        (grad,) = torch.autograd.grad(sum(out.values()), x, allow_unused=True)
        grads[name] = torch.zeros_like(x) if grad is None else grad
    return grads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a box-supervised Box2Mask-T OUTPUT_DIR")
    parser.add_argument("--dataset", default="synthetic_val", help="a registered set with masks")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--category", default="ring")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in (args.run_dir / "config.yaml", args.run_dir / "model_final.pth"):
        if not path.is_file():
            sys.exit(f"hole_gradients: {path} not found")
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(args.run_dir / "config.yaml"))
    if cfg.MODEL.META_ARCHITECTURE != "Box2MaskT" or cfg.MODEL.BOX2MASK.SUPERVISION != "box":
        sys.exit("hole_gradients: needs a box-supervised Box2Mask-T run")
    records = DatasetCatalog.get(args.dataset)[: args.images]  # loading sets the class names
    category = dataset_classes(args.dataset, args.category, "hole_gradients").index(args.category)
    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(str(args.run_dir / "model_final.pth"))
    model.train()
    term = model.criterion.mask_term
    losses = single_term_losses(cfg)
    # the mapper keeps the masks only for mask supervision; the model never sees them here
    mapper_cfg = cfg.clone()
    mapper_cfg.MODEL.BOX2MASK.SUPERVISION = "mask"
    mapper = BoxSupervisedDatasetMapper(mapper_cfg, True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    grads = {name: [] for name in TERMS}
    hole_probs, object_probs = [], []
    for record in records:
        batch = [mapper(dict(record))]
        images = model.preprocess_image(batch)
        with torch.no_grad():
            mask_features, _, multi_scale = model.pixel_decoder.forward_features(
                model.backbone(images.tensor)
            )
            outputs = model.transformer_decoder(multi_scale, mask_features)
            guide = term.guide(mask_features)
        size = outputs["pred_masks"].shape[-2:]
        target = model.prepare_targets(batch, images, size)[0]
        small = model.loss_images(images.tensor, size)
        instances = batch[0]["instances"]
        gt_masks = model._masks_at(instances, images.tensor.shape[-2:], size) > 0.5
        src, tgt = model.criterion.matcher(outputs, [target])[0]
        for s, t in zip(src.tolist(), tgt.tolist()):
            if int(instances.gt_classes[t]) != category:
                continue
            mask = gt_masks[t].numpy()
            hole = torch.from_numpy(hole_of(mask))
            if hole.sum() < 2:
                continue
            logits = outputs["pred_masks"][0, s]
            for name, grad in term_gradients(
                losses, term, logits, target["boxes"][t : t + 1], small, guide
            ).items():
                grads[name].append(float(grad[hole].mean()))
            probs = logits.sigmoid()
            hole_probs.append(float(probs[hole].mean()))
            object_probs.append(float(probs[torch.from_numpy(mask)].mean()))

    n = len(hole_probs)
    if n == 0:
        sys.exit(f"hole_gradients: no matched {args.category} with a hole in {args.images} images")
    print(f"{n} matched {args.category} instances with a hole, {args.dataset}, training mapper")
    print("| term | mean dL/dlogit on the hole | instances where it fills the hole |")
    print("|---|---|---|")
    for name, values in grads.items():
        values = np.array(values)
        print(f"| {name} | {values.mean():+.2e} | {np.mean(values < 0):.2f} |")
    print(f"mean probability: hole {np.mean(hole_probs):.3f}, object {np.mean(object_probs):.3f}")
    opens = float(np.mean(np.array(grads["image level set"]) > 0))
    print(f"instances {n} mean_hole_prob {np.mean(hole_probs):.3f} image_term_opens {opens:.2f}")


if __name__ == "__main__":
    main()
