"""Speed of Box2Mask against Mask R-CNN, and where a Box2Mask-C training step goes (CPU).

    python benchmarks/speed.py [--repeats 5] [--sizes 512,800] [--threads 2] [--device cpu|cuda]

With ``--device cuda`` only part 1 runs, on the GPU, each call timed up to
``torch.cuda.synchronize`` (parts 2 and 3 measure the CPU: wall-clock buckets and resident
memory).

1. Inference latency, batch 1, side by side in this process on the same random image of each
   size (short side S, long side 4S/3): Box2Mask-C R-50-FPN (configs/coco/box2mask_c_R_50_3x),
   Box2Mask-T R-50 (configs/coco/box2mask_t_R_50_50ep) and detectron2's Mask R-CNN R-50-FPN
   (model zoo COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x). Random weights, so two
   regimes (``--load``): "full", every score threshold 0, so each model post-processes its
   maximum number of candidates (Box2Mask-C: NMS_PRE 500 masks + Matrix NMS, 100 kept; Mask
   R-CNN: 1000 proposals, 100 detections with masks, see ``full_load``; Box2Mask-T: top 100
   of queries × classes) — an upper bound; "network", the configs' thresholds, which random
   scores do not pass, so Box2Mask-C and Mask R-CNN skip their mask post-processing (Mask
   R-CNN keeps ~2 proposals; Box2Mask-T still keeps its top 100) — the network cost. A
   trained model on a real image lies in between. Each model is run once to warm up, then
   the models take turns (round-robin, so that load from other processes spreads evenly);
   the median wall-clock time of ``--repeats`` calls of ``model([input])`` under
   ``torch.no_grad`` is reported, including pasting masks at the input size.
2. A Box2Mask-C training step (the demo config: EfficientNet-Lite0 FPN, random weights, 2
   synthetic 320×320 images, AdamW), split into buckets by wrapping the model's own modules and
   loss functions with timers (wall clock, run synchronously on the CPU):
   backbone (backbone + FPN), heads (kernel/category towers, mask feature branch, guide head),
   assignment (centre-sampling targets), loss_cls (focal loss), loss_mask_proj (projection),
   levelset_image (image data term), tree_filter (deep-structural targets T1, T2: MSTs and
   filtering), levelset_feature (data term on T1, T2), lcm (local consistency module),
   forward_other (the rest of the forward: normalisation, padding, dynamic-kernel mask logits,
   resizing to the working size), backward (one ``backward`` of the summed losses: the
   gradient of everything above) and optimizer (AdamW step). Backward cannot be split per
   term honestly, so the share of the Box2Mask terms (level set + tree filter + LCM) is given
   twice: their forward share of a step, and the full cost from an ablation — the same model
   and inputs with those terms removed (projection loss only), step time with minus without.
3. Peak memory: each model runs in a fresh subprocess; the increase of the peak resident set
   size (VmHWM) over the resident size after building the model, for inference at each size
   (full load) and for the training step.

The last printed line is ``c_vs_maskrcnn <latency ratio>`` (Box2Mask-C / Mask R-CNN at the
largest size in the first ``--load`` regime, full by default; <= 1.0 means Box2Mask-C is not
slower); ``c_vs_maskrcnn_<regime>`` lines above it give every regime.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Idle OpenMP workers sleep instead of spinning (a shared machine otherwise makes 2-thread runs
# pathological); must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import box2mask  # noqa: E402,F401  (registers the meta-architectures and backbones)
from box2mask import add_box2mask_config  # noqa: E402
from box2mask.data.synthetic import render_sample, sample_rng  # noqa: E402
from box2mask.losses import box_supervised as box_supervised_module  # noqa: E402
from box2mask.losses.projection import box_projection_loss, boxes_to_mask_grid  # noqa: E402
from box2mask.modeling.box2mask_c import criterion as criterion_module  # noqa: E402

MODELS = {
    "box2mask-c R-50-FPN": str(ROOT / "configs/coco/box2mask_c_R_50_3x.yaml"),
    "box2mask-t R-50": str(ROOT / "configs/coco/box2mask_t_R_50_50ep.yaml"),
    "mask-rcnn R-50-FPN": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml",
}
TRAIN_CONFIG = str(ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml")
BOX2MASK_TERMS = ("levelset_image", "tree_filter", "levelset_feature", "lcm")


# detectron2's Base-RCNN-FPN + mask_rcnn_R_50_FPN_3x settings that differ from get_cfg()'s
# defaults (inference-relevant keys): used when the installed detectron2 lacks its model-zoo
# configs or pkg_resources (the PyPI build here ships neither).
MASK_RCNN_R50_FPN = [
    ("MODEL.META_ARCHITECTURE", "GeneralizedRCNN"),
    ("MODEL.MASK_ON", True),
    ("MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone"),
    ("MODEL.RESNETS.DEPTH", 50),
    ("MODEL.RESNETS.OUT_FEATURES", ["res2", "res3", "res4", "res5"]),
    ("MODEL.FPN.IN_FEATURES", ["res2", "res3", "res4", "res5"]),
    ("MODEL.ANCHOR_GENERATOR.SIZES", [[32], [64], [128], [256], [512]]),
    ("MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", [[0.5, 1.0, 2.0]]),
    ("MODEL.RPN.IN_FEATURES", ["p2", "p3", "p4", "p5", "p6"]),
    ("MODEL.RPN.PRE_NMS_TOPK_TEST", 1000),
    ("MODEL.RPN.POST_NMS_TOPK_TEST", 1000),
    ("MODEL.ROI_HEADS.NAME", "StandardROIHeads"),
    ("MODEL.ROI_HEADS.IN_FEATURES", ["p2", "p3", "p4", "p5"]),
    ("MODEL.ROI_BOX_HEAD.NAME", "FastRCNNConvFCHead"),
    ("MODEL.ROI_BOX_HEAD.NUM_FC", 2),
    ("MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", 7),
    ("MODEL.ROI_MASK_HEAD.NAME", "MaskRCNNConvUpsampleHead"),
    ("MODEL.ROI_MASK_HEAD.NUM_CONV", 4),
    ("MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION", 14),
]


def maskrcnn_cfg():
    """detectron2's model-zoo Mask R-CNN R-50-FPN 3x config (or its keys, see above)."""
    cfg = get_cfg()
    try:
        from detectron2 import model_zoo  # needs pkg_resources and the packaged configs

        cfg.merge_from_file(model_zoo.get_config_file(MODELS["mask-rcnn R-50-FPN"]))
    except (ImportError, RuntimeError):
        for key, value in MASK_RCNN_R50_FPN:
            node, *path = key.split(".")
            node = cfg[node]
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
    return cfg


# ----------------------------------------------------------------------------- models and inputs
def inference_cfg(name: str, load: str = "full", device: str = "cpu"):
    """Config of one compared model on ``device`` with random weights.

    ``load`` "full": every score threshold 0, so post-processing runs at its maximum;
    "network": the configs' own thresholds, which random weights do not pass (Box2Mask-C and
    Mask R-CNN then skip their mask post-processing; Box2Mask-T always keeps its top 100).
    """
    if name.startswith("mask-rcnn"):
        cfg = maskrcnn_cfg()
        if load == "full":
            cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    else:
        cfg = get_cfg()
        add_box2mask_config(cfg)
        cfg.merge_from_file(MODELS[name])
        if load == "full":
            cfg.MODEL.BOX2MASK_C.SCORE_THRESH = 0.0
            cfg.MODEL.BOX2MASK_C.UPDATE_THRESH = 0.0
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = device
    return cfg


def timed_call(model, inputs):
    """(seconds, output) of ``model(inputs)``, waiting for the GPU's work to finish."""
    start = time.perf_counter()
    out = model(inputs)
    if next(model.parameters()).is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def build(cfg, load: str = "network"):
    """The model in eval mode, random weights (seed 0); see ``full_load`` for "full"."""
    torch.manual_seed(0)
    model = build_model(cfg)
    model.eval()
    if load == "full":
        full_load(model)
    return model


def full_load(model) -> None:
    """Make random-weight Mask R-CNN post-process as many boxes as a trained one.

    Random backbone features are large (|p2| ~ 1e4), so random box regressions push every
    proposal and detection out of the image, and Mask R-CNN keeps ~2 proposals and ~1
    detection. With the RPN's and the box predictor's regression layers zeroed, proposals are
    the anchors (1000 after NMS) and detections are proposals (100 with masks at score
    threshold 0); the amount of computation of every layer is unchanged. Other models are left
    as they are (Box2Mask-C and -T already return 100 instances at threshold 0).
    """
    rpn = getattr(model, "proposal_generator", None)
    roi_heads = getattr(model, "roi_heads", None)
    if rpn is None or roi_heads is None:
        return
    for layer in (rpn.rpn_head.anchor_deltas, roi_heads.box_predictor.bbox_pred):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)


def image_input(short: int, seed: int = 0):
    """Batch of one random image, short side ``short``, aspect 4:3 (0-255 floats)."""
    g = torch.Generator().manual_seed(seed)
    h, w = short, round(short * 4 / 3)
    return [{"image": torch.rand(3, h, w, generator=g) * 255, "height": h, "width": w}]


def train_cfg():
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(TRAIN_CONFIG)
    cfg.MODEL.EFFICIENTNET.PRETRAINED = False
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def train_batch(num_images: int = 2, size: int = 320):
    """Synthetic training images (the demo data's renderer) with their boxes and classes."""
    batch = []
    for i in range(num_images):
        sample = render_sample(sample_rng(0, "train", i), size)
        annotated = [x for x in sample.instances if x.annotated]
        inst = Instances((size, size))
        boxes = torch.tensor([x.full_box for x in annotated], dtype=torch.float32).reshape(-1, 4)
        inst.gt_boxes = Boxes(boxes)
        inst.gt_classes = torch.tensor([x.category_id - 1 for x in annotated], dtype=torch.long)
        image = torch.from_numpy(np.ascontiguousarray(sample.image.transpose(2, 0, 1))).float()
        batch.append({"image": image, "instances": inst, "height": size, "width": size})
    return batch


# ----------------------------------------------------------------------------- timing buckets
class Buckets:
    """Accumulates wall-clock seconds per named bucket from wrapped callables."""

    def __init__(self):
        self.seconds = {}
        self._restore = []

    def add(self, name: str, seconds: float):
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def wrap(self, owner, attr: str, name: str):
        """Replace ``owner.attr`` (a callable) by a timed version; ``restore`` undoes it."""
        fn = getattr(owner, attr)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        had_own = isinstance(owner, torch.nn.Module) and attr in owner.__dict__
        self._restore.append((owner, attr, fn, had_own))
        setattr(owner, attr, timed)

    def restore(self):
        for owner, attr, fn, had_own in reversed(self._restore):
            if isinstance(owner, torch.nn.Module) and not had_own:
                delattr(owner, attr)
            else:
                setattr(owner, attr, fn)
        self._restore.clear()


def instrument(model, buckets: Buckets):
    """Time the Box2Mask-C training step's parts (see the module docstring)."""
    buckets.wrap(model.backbone, "forward", "backbone")
    for head in (model.head, model.mask_head, model.guide_head):
        if head is not None:
            buckets.wrap(head, "forward", "heads")
    buckets.wrap(criterion_module, "center_sampling_targets", "assignment")
    buckets.wrap(criterion_module, "sigmoid_focal_loss_jit", "loss_cls")
    buckets.wrap(box_supervised_module, "box_projection_loss", "loss_mask_proj")
    buckets.wrap(box_supervised_module, "image_levelset_loss", "levelset_image")
    buckets.wrap(box_supervised_module, "feature_levelset_loss", "levelset_feature")
    buckets.wrap(box_supervised_module, "local_consistency_loss", "lcm")
    if model.criterion.structural_targets_fn is not None:
        buckets.wrap(model.criterion, "structural_targets_fn", "tree_filter")


class ProjectionOnlyLoss(torch.nn.Module):
    """The ablation: Box2Mask-C's projection term alone (no level set, tree filter, LCM)."""

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def forward(self, mask_logits, gt_boxes, image_index, images, **kwargs):
        h, w = mask_logits.shape[-2:]
        _, box_masks = boxes_to_mask_grid(gt_boxes.float(), h, w)
        loss = box_projection_loss(mask_logits.float().sigmoid(), box_masks)
        return {"loss_mask_proj": self.weight * loss.mean()}


def train_step(model, optimizer, batch, buckets: Buckets = None) -> float:
    """One step; returns its wall-clock seconds (forward, backward, optimizer)."""
    start = time.perf_counter()
    losses = model(batch)
    total = sum(losses.values())
    t_forward = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    t_backward = time.perf_counter()
    optimizer.step()
    end = time.perf_counter()
    if buckets is not None:
        buckets.add("forward", t_forward - start)
        buckets.add("backward", t_backward - t_forward)
        buckets.add("optimizer", end - t_backward)
    return end - start


def build_trainable(cfg, projection_only: bool = False):
    torch.manual_seed(0)
    model = build_model(cfg)
    if projection_only:
        model.criterion.box_mask_loss = ProjectionOnlyLoss(
            cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT
        )
        model.criterion.structural_targets_fn = None
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05)


# ----------------------------------------------------------------------------- memory (subprocess)
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_worker(what: str, sizes, threads: int) -> None:
    """Child process: print JSON {label: peak RSS increase in MiB} for one model."""
    torch.set_num_threads(threads)
    out = {}
    if what == "train":
        model, optimizer = build_trainable(train_cfg())
        batch = train_batch()
        base = _status_kib("VmRSS")
        train_step(model, optimizer, batch)
        out["train step"] = (_status_kib("VmHWM") - base) / 1024
    else:
        model = build(inference_cfg(what), "full")
        base = _status_kib("VmRSS")
        with torch.no_grad():
            for size in sorted(sizes):  # increasing: each peak is that size's own
                model(image_input(size))
                out[str(size)] = (_status_kib("VmHWM") - base) / 1024
    out["model RSS"] = base / 1024
    print(json.dumps(out))


def measure_memory(what: str, sizes, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-worker", what, "--threads", str(threads)]
    cmd += ["--sizes", ",".join(map(str, sizes))]
    run = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if run.returncode != 0:
        raise RuntimeError(f"memory worker for {what!r} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main
def bench_inference(sizes, repeats: int, load: str, device: str = "cpu"):
    """{model: {size: median seconds}}, models interleaved per repeat."""
    models = {name: build(inference_cfg(name, load, device), load) for name in MODELS}
    results = {name: {} for name in MODELS}
    with torch.no_grad():
        for size in sizes:
            inputs = image_input(size)
            times = {name: [] for name in models}
            counts = {}
            for model in models.values():
                model(inputs)  # warm-up
            for _ in range(repeats):
                for name, model in models.items():
                    seconds, out = timed_call(model, inputs)
                    times[name].append(seconds)
                    counts[name] = len(out[0]["instances"])
            for name in models:
                results[name][size] = statistics.median(times[name])
            print(
                f"  size {size}: "
                + ", ".join(f"{n} {results[n][size]:.3f}s ({counts[n]} inst.)" for n in models)
            )
    return results


def bench_breakdown(size: int, repeats: int, load: str = "full"):
    """Median seconds per part of one inference of Box2Mask-C and Mask R-CNN.

    Box2Mask-C: backbone (R-50 + FPN), heads (kernel/category towers on the grids and the
    mask feature branch), post-processing (points-NMS excluded: per image, candidates' masks,
    Matrix NMS, resizing and pasting), other (normalisation, padding, grid reshapes,
    points-NMS). Mask R-CNN: backbone, rpn (proposals incl. NMS), roi_heads (box head, NMS,
    mask head), other (normalisation, padding, pasting masks at the image size).
    """
    parts = {
        "box2mask-c R-50-FPN": [("backbone", "backbone"), ("head", "heads"),
                                ("mask_head", "heads"), ("postprocessor", "postprocess")],
        "mask-rcnn R-50-FPN": [("backbone", "backbone"), ("proposal_generator", "rpn"),
                               ("roi_heads", "roi_heads")],
    }  # fmt: skip
    inputs = image_input(size)
    out = {}
    for name, wrapped in parts.items():
        model = build(inference_cfg(name, load), load)
        buckets = Buckets()
        for attr, bucket in wrapped:
            owner = getattr(model, attr)
            if isinstance(owner, torch.nn.Module):
                buckets.wrap(owner, "forward", bucket)
            else:
                buckets.wrap(model, attr, bucket)
        runs = []
        with torch.no_grad():
            model(inputs)  # warm-up
            for _ in range(repeats):
                buckets.seconds = {}
                start = time.perf_counter()
                model(inputs)
                total = time.perf_counter() - start
                runs.append({**buckets.seconds, "total": total})
        buckets.restore()
        names = [b for _, b in wrapped]
        names = list(dict.fromkeys(names))
        med = {k: statistics.median(r[k] for r in runs) for k in [*names, "total"]}
        med["other"] = statistics.median(r["total"] - sum(r[k] for k in names) for r in runs)
        out[name] = med
    return out


def bench_training(repeats: int):
    """Median bucket seconds over ``repeats`` steps, and the ablation's median step time."""
    cfg = train_cfg()
    batch = train_batch()
    model, optimizer = build_trainable(cfg)
    ablation, ablation_opt = build_trainable(cfg, projection_only=True)
    train_step(model, optimizer, batch)  # warm-up (allocations, first-call overheads)
    train_step(ablation, ablation_opt, batch)
    per_step, full, without = [], [], []
    buckets = Buckets()
    instrument(model, buckets)
    try:
        for _ in range(repeats):
            buckets.seconds = {}
            full.append(train_step(model, optimizer, batch, buckets))
            per_step.append(dict(buckets.seconds))
            without.append(train_step(ablation, ablation_opt, batch))
    finally:
        buckets.restore()
    names = sorted({k for s in per_step for k in s}, key=list(per_step[0]).index)
    med = {k: statistics.median(s.get(k, 0.0) for s in per_step) for k in names}
    inner = [k for k in names if k not in ("forward", "backward", "optimizer")]
    med["forward_other"] = statistics.median(
        s["forward"] - sum(s.get(k, 0.0) for k in inner) for s in per_step
    )
    return med, statistics.median(full), statistics.median(without), inner


def report_cpu_parts(args, sizes):
    """Parts 2 and 3 of the module docstring (CPU only); returns the Box2Mask terms' shares of
    a training step (forward only, ablation)."""
    largest = max(sizes)
    print(f"\n## Inference breakdown at S={largest}, full load (median ms)")
    for name, med in bench_breakdown(largest, args.repeats).items():
        cols = ", ".join(f"{k} {v * 1000:.0f}" for k, v in med.items() if k != "total")
        print(f"{name}: total {med['total'] * 1000:.0f} = {cols}")

    print("\n## Box2Mask-C training step (demo config, 2 × 320×320 images; median seconds)")
    med, full, without, inner = bench_training(args.repeats)
    step = med["forward"] + med["backward"] + med["optimizer"]
    print("| bucket | ms | % of step |")
    print("|---|---|---|")
    for name in [*inner, "forward_other", "backward", "optimizer"]:
        print(f"| {name} | {med[name] * 1000:.1f} | {100 * med[name] / step:.1f} |")
    print(f"| step (sum of medians) | {step * 1000:.1f} | 100.0 |")
    terms_fwd = sum(med.get(k, 0.0) for k in BOX2MASK_TERMS)
    share_fwd = terms_fwd / step
    share_ablation = (full - without) / full
    print(f"level set + tree filter + LCM, forward only: {terms_fwd * 1000:.1f} ms "
          f"= {100 * share_fwd:.1f} % of a step")
    print(f"ablation: step {full * 1000:.1f} ms with, {without * 1000:.1f} ms without "
          f"(projection only) -> terms cost {100 * share_ablation:.1f} % of a step "
          f"(forward + backward)")

    if not args.no_memory:
        print("\n## Peak memory (MiB above the RSS after building the model; fresh process each)")
        print("| model | model RSS | " + " | ".join(f"S={s}" for s in sizes) + " |")
        print("|---" * (len(sizes) + 2) + "|")
        for name in MODELS:
            mem = measure_memory(name, sizes, args.threads)
            cols = " | ".join(f"{mem[str(s)]:.0f}" for s in sizes)
            print(f"| {name} | {mem['model RSS']:.0f} | {cols} |")
        mem = measure_memory("train", sizes, args.threads)
        print(f"| box2mask-c demo train step | {mem['model RSS']:.0f} | "
              f"{mem['train step']:.0f} (step) |")

    return share_fwd, share_ablation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--sizes", default="512,800", help="short sides of inference inputs")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--load",
        default="full,network",
        help="inference regimes: full (thresholds 0) and/or network (configs' thresholds)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.memory_worker:
        memory_worker(args.memory_worker, sizes, args.threads)
        return
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {args.threads} threads, {args.repeats} repeats, {where}")

    latencies = {}
    for load in args.load.split(","):
        print(f"\n## Inference latency, batch 1, {load} load (median; short side S, long 4S/3)")
        latency = latencies[load] = bench_inference(sizes, args.repeats, load, args.device)
        print("| model | " + " | ".join(f"S={s}" for s in sizes) + " |")
        print("|---" * (len(sizes) + 1) + "|")
        for name, row in latency.items():
            print(f"| {name} | " + " | ".join(f"{row[s] * 1000:.0f} ms" for s in sizes) + " |")

    largest = max(sizes)
    if args.device == "cpu":
        share_fwd, share_ablation = report_cpu_parts(args, sizes)
    print()
    for load, latency in latencies.items():
        r = latency["box2mask-c R-50-FPN"][largest] / latency["mask-rcnn R-50-FPN"][largest]
        print(f"c_vs_maskrcnn_{load} {r:.3f}")
    if args.device == "cpu":
        print(f"box2mask_c_fraction_of_step_forward {share_fwd:.3f}")
        print(f"box2mask_c_fraction_of_step_ablation {share_ablation:.3f}")
    # The headline: the first regime given (full load by default).
    first = latencies[args.load.split(",")[0]]
    ratio = first["box2mask-c R-50-FPN"][largest] / first["mask-rcnn R-50-FPN"][largest]
    print(f"c_vs_maskrcnn {ratio:.3f}")
    return latencies


if __name__ == "__main__":
    main()
