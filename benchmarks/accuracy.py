"""Mask AP of Box2Mask, its baselines and the mask-supervised models on a built-in set.

    python benchmarks/accuracy.py [--iters N] [--t-iters N] [--only box-fill,c-box] [--output DIR]
        [--test-set NAME] [--force]
        [--c-config CFG] [--t-config CFG] [--num-gpus G] [KEY VALUE ...]

Runs, all evaluated by COCO mask AP on ``--test-set``: ``synthetic_val`` (50 images, default) or
``synthetic_test`` (500 images, disjoint; on 50 images the same model's AP can differ from its
AP on 500 by several points, too much to compare runs a few AP apart), trained on
``synthetic_train``; or a development set (``box2mask.data.builtin``): ``microscopy_val``,
``textured_val``, ``copypaste_val`` trained on their own ``*_train``, ``real_photos_val``
trained on ``copypaste_train`` (``TRAIN_SETS``), with ``MODEL.BOX2MASK.NUM_CLASSES`` set to
the set's classes. The sets are generated under ``$DETECTRON2_DATASETS``, default
``./datasets``, when missing.

- ``box-fill``: each ground-truth box as its mask (no training; box2mask.evaluation.box_baselines);
- ``levelset-evolution``: the training-free level-set evolution op inside each box (same module);
  both get the ground-truth boxes and classes (perfect detection), so they score mask quality
  only and are not a like-for-like comparison with the trained detectors;
- ``c-boxinst``: Box2Mask-C trained from boxes with the BoxInst loss (MASK_LOSS boxinst);
- ``c-box``, ``t-box``: Box2Mask-C and Box2Mask-T trained from boxes (the method);
- ``c-box-proj``, ``c-box-proj-image``, ``c-box-proj-image-tree``: the loss ablation of
  Box2Mask-C (box): projection only, + the image level-set term, + the tree-filtered
  deep-structural term; ``c-box`` adds the LCM;
- ``c-mask``, ``t-mask``: the same models trained on ground-truth masks (SUPERVISION mask), the
  upper reference under the same schedule.

The Box2Mask-C runs share one schedule, ``--iters`` (default: MAX_ITER of the C config), the
Box2Mask-T runs another, ``--t-iters`` (default: MAX_ITER of the T config; the demo configs give
both models about the same CPU time), with the learning-rate steps and warm-up of each config
scaled to it, and BoxInst's pairwise warm-up at 1/9 of it (10k of 90k in the paper). Each run
is ``train_net.py`` in a subprocess with its own OUTPUT_DIR (``<output>/<name>``); a run whose
``final_results.json`` exists and whose ``run.json`` records the same config file (path, and
the text of it and its ``_BASE_`` chain), schedule and overrides is not redone (``--force``
redoes it). Trailing ``KEY VALUE`` pairs are passed to every training run (e.g.
``MODEL.DEVICE cuda``). Mask-supervised runs train on a copy of the train split's json with
masks (same images, same boxes).

Each trained run also gets its polarity (``box2mask.evaluation.polarity``): the mean fraction
of a matched prediction's mask inside its object (near 0 for an inverted model, which segments
the box's background).

Prints a table (mask AP, AP50, AP75, polarity; box / mask ratios), writes ``accuracy.json``,
``accuracy.md`` and the bar chart ``accuracy.png`` to the output directory. The last printed
line is ``box_vs_mask_c <c-box AP / c-mask AP>`` (nan when either run is missing; null in
``accuracy.json``).
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectron2.config import get_cfg  # noqa: E402

from box2mask import add_box2mask_config  # noqa: E402
from box2mask.data import synthetic  # noqa: E402
from box2mask.engine import strict_json  # noqa: E402
from box2mask.data.builtin import SYNTHETIC_TEST, generate_builtin  # noqa: E402
from box2mask.evaluation.box_baselines import MASK_METHODS, evaluate_box_baseline  # noqa: E402
from box2mask.evaluation.polarity import evaluate_polarity  # noqa: E402

MASK_SUPERVISED = ["MODEL.BOX2MASK.SUPERVISION", "mask"]
NO_IMAGE_LS = ["MODEL.BOX2MASK.LOSS.LEVELSET_IMAGE_WEIGHT", "0.0"]
NO_FEATURE_LS = ["MODEL.BOX2MASK.LOSS.LEVELSET_FEATURE_WEIGHT", "0.0"]
NO_LCM = ["MODEL.BOX2MASK.LOSS.LCM_WEIGHT", "0.0"]
# name -> (label, kind, model, KEY VALUE overrides); kind "baseline" runs box_baselines.
RUNS = {
    "box-fill": ("box-fill (no training)", "baseline", None, []),
    "levelset-evolution": ("level-set evolution (no training)", "baseline", None, []),
    "c-boxinst": (
        "Box2Mask-C, BoxInst loss (box)",
        "train",
        "c",
        ["MODEL.BOX2MASK.LOSS.MASK_LOSS", "boxinst"],
    ),
    # The loss ablation of Box2Mask-C (box): terms added one at a time up to the full "c-box".
    "c-box-proj": (
        "Box2Mask-C (box), projection only",
        "train",
        "c",
        [*NO_IMAGE_LS, *NO_FEATURE_LS, *NO_LCM],
    ),
    "c-box-proj-image": (
        "Box2Mask-C (box), + image level set",
        "train",
        "c",
        [*NO_FEATURE_LS, *NO_LCM],
    ),
    "c-box-proj-image-tree": (
        "Box2Mask-C (box), + tree-filter level set",
        "train",
        "c",
        NO_LCM,
    ),
    "c-box": ("Box2Mask-C (box)", "train", "c", []),
    "t-box": ("Box2Mask-T (box)", "train", "t", []),
    "c-mask": ("Box2Mask-C (mask-supervised)", "train", "c", MASK_SUPERVISED),
    "t-mask": ("Box2Mask-T (mask-supervised)", "train", "t", MASK_SUPERVISED),
}
KEYS = ("AP", "AP50", "AP75")
# test set -> the set its runs train on.
TRAIN_SETS = {
    "synthetic_val": "synthetic_train",
    "synthetic_test": "synthetic_train",
    "microscopy_val": "microscopy_train",
    "textured_val": "textured_train",
    "copypaste_val": "copypaste_train",
    "real_photos_val": "copypaste_train",
}
TEST_SETS = tuple(TRAIN_SETS)
DEMO = ROOT / "configs/demo"


def data_root() -> Path:
    return Path(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))


def masked_train(test_set: str) -> str:
    """Name under which the train split's json with masks is registered for "mask" runs."""
    return f"{TRAIN_SETS[test_set]}_masks"


def ensure_data(test_set: str = "synthetic_val") -> dict:
    """The train set (generated if missing) as "train_json", "train_images" and, with masks for
    "mask" runs, "train_masks_json"; the evaluation set's json and images as "test_json" and
    "test_images"; "num_classes" of the test set."""
    if not test_set.startswith("synthetic"):
        train = generate_builtin(TRAIN_SETS[test_set], data_root())
        test = generate_builtin(test_set, data_root())
        coco = json.loads(Path(test["val_json"]).read_text())
        return {
            "train_json": train["train_json"],
            "train_images": train["train_images"],
            "train_masks_json": train["train_masks_json"],
            "test_json": test["val_json"],
            "test_images": test["val_images"],
            "num_classes": len(coco["categories"]),
        }
    paths = synthetic.generate_synthetic_dataset(data_root() / "synthetic")
    evaluation = paths
    if test_set == "synthetic_test":
        evaluation = synthetic.generate_synthetic_dataset(
            data_root() / "synthetic_test", **SYNTHETIC_TEST
        )
    paths["test_json"], paths["test_images"] = evaluation["val_json"], evaluation["val_images"]
    masked = Path(paths["train_json"]).with_name("train_masks.json")
    if not masked.is_file() or masked.stat().st_mtime < Path(paths["train_json"]).stat().st_mtime:
        coco = json.loads(Path(paths["train_json"]).read_text())
        meta = json.loads(Path(paths["meta"]).read_text())
        annotations = []
        for info in sorted(coco["images"], key=lambda x: x["id"]):
            index = int(Path(info["file_name"]).stem)
            rng = synthetic.sample_rng(meta["seed"], "train", index)
            sample = synthetic.render_sample(rng, meta["image_size"])
            first_id = len(annotations) + 1
            annotations += synthetic.sample_annotations(sample, info["id"], first_id, True)
        boxes = [a["bbox"] for a in annotations]
        if boxes != [a["bbox"] for a in coco["annotations"]]:
            raise RuntimeError(
                f"re-rendered train masks do not match {paths['train_json']}'s boxes: regenerate "
                "the synthetic set (python -m box2mask.data.synthetic --out ...)"
            )
        coco["annotations"] = annotations
        tmp = masked.with_suffix(".tmp")
        tmp.write_text(json.dumps(coco, separators=(",", ":")))
        tmp.replace(masked)
    paths["train_masks_json"] = str(masked)
    paths["num_classes"] = len(synthetic.CATEGORIES)
    return paths


def load_cfg(config_file: str):
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(config_file)
    return cfg


def schedule_opts(config_file: str, iters: int) -> list:
    """KEY VALUE pairs setting MAX_ITER to ``iters`` with the config's steps/warm-up scaled."""
    solver = load_cfg(config_file).SOLVER
    scale = iters / solver.MAX_ITER
    steps = tuple(sorted({max(1, min(iters - 1, round(s * scale))) for s in solver.STEPS}))
    return [
        "SOLVER.MAX_ITER", str(iters),
        "SOLVER.STEPS", str(steps) if len(steps) != 1 else f"({steps[0]},)",
        "SOLVER.WARMUP_ITERS", str(max(1, round(solver.WARMUP_ITERS * scale))),
        "SOLVER.CHECKPOINT_PERIOD", str(iters),
        "TEST.EVAL_PERIOD", "0",
    ]  # fmt: skip


def run_baseline(name: str, paths: dict, out_dir: Path) -> dict:
    res = evaluate_box_baseline(paths["test_json"], paths["test_images"], MASK_METHODS[name])
    return {"segm": res}


def config_digest(config_file: str) -> str:
    """Digest of the config file's text and its _BASE_ chain: editing a yaml redoes its runs."""
    digest, path = hashlib.sha256(), Path(config_file).resolve()
    while True:
        text = path.read_text()
        digest.update(text.encode())
        base = yaml.safe_load(text).get("_BASE_")
        if not base:
            return digest.hexdigest()[:16]
        path = (path.parent / base).resolve()


def training_spec(name: str, args) -> dict:
    """What defines a trained run's result: config file and every KEY VALUE override.

    The train set and the number of classes of ``args.test_set`` are set where they differ from
    the config's (the demo configs train on ``synthetic_train``, 4 classes)."""
    _, _, model, overrides = RUNS[name]
    config = args.c_config if model == "c" else args.t_config
    iters = args.iters if model == "c" else args.t_iters
    opts = schedule_opts(config, iters) + list(overrides)
    if name == "c-boxinst":
        opts += ["MODEL.BOX2MASK.LOSS.BOXINST_WARMUP_ITERS", str(max(1, round(iters / 9)))]
    cfg = load_cfg(config)
    num_classes = getattr(args, "num_classes", cfg.MODEL.BOX2MASK.NUM_CLASSES)
    if num_classes != cfg.MODEL.BOX2MASK.NUM_CLASSES:
        opts += ["MODEL.BOX2MASK.NUM_CLASSES", str(num_classes)]
    train = TRAIN_SETS[args.test_set]
    if name.endswith("-mask"):
        opts += ["DATASETS.TRAIN", f"('{masked_train(args.test_set)}',)"]
    elif tuple(cfg.DATASETS.TRAIN) != (train,):
        opts += ["DATASETS.TRAIN", f"('{train}',)"]
    opts += ["DATASETS.TEST", f"('{args.test_set}',)"]
    digest = config_digest(config)
    config = Path(config).resolve()
    if config.is_relative_to(ROOT):
        config = config.relative_to(ROOT)
    return {"config": str(config), "config_digest": digest, "opts": opts + args.opts}


def run_training(name: str, args, paths: dict, out_dir: Path) -> dict:
    spec = training_spec(name, args)
    cmd = [sys.executable, str(ROOT / "train_net.py"), "--config-file", spec["config"]]
    cmd += ["--num-gpus", str(args.num_gpus)]
    if name.endswith("-mask"):
        masked = masked_train(args.test_set)
        cmd += ["--register-coco", masked, paths["train_masks_json"], paths["train_images"]]
    cmd += spec["opts"] + ["OUTPUT_DIR", str(out_dir)]
    log = out_dir / "train_stdout.txt"
    print(f"  {name}: {' '.join(cmd[1:])}\n    log: {log}", flush=True)
    with open(log, "w") as f:
        env = dict(os.environ, DETECTRON2_DATASETS=str(data_root().resolve()))
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    results = out_dir / "final_results.json"
    if proc.returncode != 0 or not results.is_file():
        tail = log.read_text().splitlines()[-15:]
        raise RuntimeError(
            f"{name} failed (exit {proc.returncode}); end of {log}:\n" + "\n".join(tail)
        )
    return json.loads(results.read_text())


def finished(name: str, args, out_dir: Path) -> bool:
    """A run's results exist and came from the same config text, schedule, overrides and
    evaluation set."""
    run = out_dir / "run.json"
    if not (out_dir / "final_results.json").is_file() or not run.is_file():
        return False
    return json.loads(run.read_text()) == run_spec(name, args)


def run_spec(name: str, args) -> dict:
    """What a run's result depends on (recorded in its run.json)."""
    if RUNS[name][1] == "baseline":
        return {"test_set": args.test_set}
    return training_spec(name, args)


def run_polarity(name: str, args, paths: dict, out_dir: Path) -> float:
    """Mean ``inside_object`` of a trained run's matched predictions; nan for a baseline."""
    if RUNS[name][1] == "baseline":
        return math.nan
    results = out_dir / "inference" / args.test_set / "coco_instances_results.json"
    if not results.is_file():
        raise FileNotFoundError(f"{results} is missing: the run's evaluation wrote no results")
    return evaluate_polarity(paths["test_json"], results)["inside_object"]


def fmt(x: float) -> str:
    return "nan" if x is None or math.isnan(x) else f"{x:.1f}"


def ratio(rows: dict, a: str, b: str) -> float:
    """AP of run a / AP of run b; nan when either is missing or b's AP is below 1 (a ratio of
    two near-zero APs says nothing)."""
    if a not in rows or b not in rows or not rows[b]["AP"] >= 1.0:
        return math.nan
    return rows[a]["AP"] / rows[b]["AP"]


def bar_chart(rows: dict, path: Path, title: str) -> None:
    names = list(rows)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(names) + 2), 4.2))
    width = 0.8 / len(KEYS)
    for k, key in enumerate(KEYS):
        xs = [i + (k - (len(KEYS) - 1) / 2) * width for i in range(len(names))]
        vals = [0.0 if math.isnan(rows[n][key]) else rows[n][key] for n in names]
        bars = ax.bar(xs, vals, width, label=f"mask {key}")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(names)), [RUNS[n][0] for n in names], rotation=20, ha="right")
    ax.set_ylabel("COCO mask AP (%)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, help="training iterations of the Box2Mask-C runs")
    parser.add_argument("--t-iters", type=int, help="training iterations of the Box2Mask-T runs")
    parser.add_argument("--c-config", default=str(DEMO / "box2mask_c_effnet_lite0.yaml"))
    parser.add_argument("--t-config", default=str(DEMO / "box2mask_t_effnet_lite0.yaml"))
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(RUNS)}")
    parser.add_argument("--output", default=str(ROOT / "output/benchmarks/accuracy"))
    parser.add_argument("--test-set", choices=TEST_SETS, default=TEST_SETS[0])
    parser.add_argument("--force", action="store_true", help="redo runs that have results")
    parser.add_argument("--num-gpus", type=int, default=1)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE for every training run")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"unknown run(s) {unknown}; choose from {','.join(RUNS)}")
    args.iters = args.iters or load_cfg(args.c_config).SOLVER.MAX_ITER
    args.t_iters = args.t_iters or load_cfg(args.t_config).SOLVER.MAX_ITER
    schedule = f"Box2Mask-C {args.iters} iterations, Box2Mask-T {args.t_iters}"
    output = Path(args.output)
    paths = ensure_data(args.test_set)
    args.num_classes = paths["num_classes"]
    print(
        f"schedule: {schedule}; C {args.c_config}, T {args.t_config}; trained on "
        f"{TRAIN_SETS[args.test_set]}, evaluated on {args.test_set}; output {output}"
    )

    rows = {}
    for name in names:
        out_dir = output / name
        out_dir.mkdir(parents=True, exist_ok=True)
        results_file = out_dir / "final_results.json"
        start = time.perf_counter()
        if finished(name, args, out_dir) and not args.force:
            results = json.loads(results_file.read_text())
            print(f"  {name}: found {results_file}")
        else:
            if RUNS[name][1] == "baseline":
                results = run_baseline(name, paths, out_dir)
                results_file.write_text(json.dumps(results, indent=2))
            else:
                results_file.unlink(missing_ok=True)
                results = run_training(name, args, paths, out_dir)
            (out_dir / "run.json").write_text(json.dumps(run_spec(name, args), indent=1))
        rows[name] = {k: float(results["segm"][k]) for k in KEYS}
        rows[name]["polarity"] = run_polarity(name, args, paths, out_dir)
        print(
            f"  {name}: mask AP {fmt(rows[name]['AP'])}, polarity "
            f"{fmt(100 * rows[name]['polarity'])} % ({time.perf_counter() - start:.0f} s)"
        )

    columns = KEYS + ("polarity",)
    table = [
        f"| method on {args.test_set} | mask AP | AP50 | AP75 | polarity (%) |",
        "|---|---|---|---|---|",
    ]
    for n, row in rows.items():
        cells = [fmt(100 * row[k] if k == "polarity" else row[k]) for k in columns]
        table.append(f"| {RUNS[n][0]} | " + " | ".join(cells) + " |")
    c_ratio, t_ratio = ratio(rows, "c-box", "c-mask"), ratio(rows, "t-box", "t-mask")
    lines = [
        f"schedule: {schedule}",
        "",
        *table,
        "",
        f"box / mask AP: Box2Mask-C {fmt(100 * c_ratio)} %, Box2Mask-T {fmt(100 * t_ratio)} %",
        "The training-free rows get the ground-truth boxes and classes (perfect detection, score"
        " 1): they measure mask quality only; the trained rows detect on their own.",
        "Polarity: mean fraction of a matched prediction's mask inside its object"
        " (box2mask.evaluation.polarity; near 0 when the masks are inverted).",
    ]
    print("\n" + "\n".join(lines))
    (output / "accuracy.md").write_text("\n".join(lines) + "\n")
    summary = {
        "iters": args.iters,
        "t_iters": args.t_iters,
        "test_set": args.test_set,
        "train_set": TRAIN_SETS[args.test_set],
        "num_classes": args.num_classes,
        "runs": rows,
        "box_vs_mask_c": c_ratio,
        "box_vs_mask_t": t_ratio,
    }
    # strict JSON: a missing ratio or an unmatched polarity is null
    (output / "accuracy.json").write_text(json.dumps(strict_json(summary), indent=2, allow_nan=False))
    bar_chart(rows, output / "accuracy.png", f"{args.test_set}; {schedule}")
    print(f"wrote {output / 'accuracy.md'}, accuracy.json, accuracy.png")
    print(f"box_vs_mask_c {c_ratio:.3f}")


if __name__ == "__main__":
    main()
