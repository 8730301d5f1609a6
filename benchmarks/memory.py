"""Peak resident memory (RSS) of Box2Mask's demo training, of evaluation on 500 images, and of
registering and starting to train on a json of 100k annotations.

    python benchmarks/memory.py [--iters 20] [--annotations 100000] [--parts train,eval,large]

Each measurement runs in a fresh subprocess and reports its peak RSS (``ru_maxrss``) and the
RSS after imports, so the figures do not include each other:

* ``train``: the demo config (Box2Mask-C, EfficientNet-Lite0, synthetic_train) for ``--iters``
  iterations, one loader worker;
* ``eval``: the demo model (random weights unless ``--weights``) evaluated on synthetic_test
  (500 images, COCOEvaluator, box and mask AP);
* ``large``: a synthetic json of ``--annotations`` boxes over 2000 images (written to a
  temporary folder): ``json.load`` of it alone (the cost of one parsed copy), then
  checking and loading it into dataset dicts alone, then registration, loading and two
  training iterations of the demo config on it, and the same on 1000 annotations; the
  difference of the two peaks is what the data costs in training (detectron2's loader
  serialises the dicts), given in parsed copies.

The last printed line is ``peak_rss_mb train <MB> eval <MB> large <MB>``.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"


def _rss_mb() -> float:
    """Current resident set size of this process, MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cfg(opts):
    from detectron2.config import get_cfg

    from box2mask import add_box2mask_config

    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(CONFIG))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def _train(iters: int, out: str, opts=()) -> None:
    from box2mask.engine import Trainer

    cfg = _cfg(["SOLVER.MAX_ITER", str(iters), "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()",
                "SOLVER.CHECKPOINT_PERIOD", "100000", "OUTPUT_DIR", out, *opts])
    trainer = Trainer(cfg)
    trainer.train()


def child_train(args) -> dict:
    import box2mask  # noqa: F401  (registration)

    base = _rss_mb()
    with tempfile.TemporaryDirectory() as out:
        _train(args.iters, out, ["DATALOADER.NUM_WORKERS", "1"])
    return {"base": base, "peak": _peak_mb()}


def child_eval(args) -> dict:
    from detectron2.checkpoint import DetectionCheckpointer

    from box2mask.engine import Trainer

    base = _rss_mb()
    with tempfile.TemporaryDirectory() as out:
        cfg = _cfg(["OUTPUT_DIR", out, "DATALOADER.NUM_WORKERS", "0",
                    "MODEL.EFFICIENTNET.PRETRAINED", "False"])
        model = Trainer.build_model(cfg)
        if args.weights:
            DetectionCheckpointer(model).load(args.weights)
        Trainer.test(cfg, model, Trainer.build_evaluator(cfg, "synthetic_test"))
    return {"base": base, "peak": _peak_mb()}


def write_large_json(path: Path, annotations: int, images: int = 2000) -> None:
    """``annotations`` random boxes over ``images`` 320 × 320 images (files not written:
    every image is the same blank PNG, named in the json)."""
    import numpy as np

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 280, (annotations, 2)).round(1)
    wh = rng.uniform(4, 40, (annotations, 2)).round(1)
    data = {
        "images": [{"id": i, "file_name": "blank.png", "height": 320, "width": 320}
                   for i in range(images)],
        "annotations": [{"id": k, "image_id": k % images, "category_id": 1 + k % 4,
                         "bbox": [*xy[k].tolist(), *wh[k].tolist()], "iscrowd": 0,
                         "area": float(wh[k].prod())} for k in range(annotations)],
        "categories": [{"id": c, "name": f"c{c}"} for c in range(1, 5)],
    }
    path.write_text(json.dumps(data))


def child_json_load(args) -> dict:
    base = _rss_mb()
    with open(args.json) as f:
        data = json.load(f)
    after = _rss_mb()
    del data
    return {"base": base, "peak": _peak_mb(), "one_copy": after - base}


def child_load(args) -> dict:
    from box2mask.data import load_box_coco_json

    base = _rss_mb()
    dicts = load_box_coco_json(args.json, str(Path(args.json).parent), "memory_load")
    return {"base": base, "peak": _peak_mb(), "dicts": _rss_mb() - base, "n": len(dicts)}


def child_large(args) -> dict:
    from box2mask import register_box_coco

    base = _rss_mb()
    register_box_coco("memory_large", args.json, str(Path(args.json).parent))
    with tempfile.TemporaryDirectory() as out:
        _train(2, out, ["DATASETS.TRAIN", "('memory_large',)", "DATALOADER.NUM_WORKERS", "0",
                        "MODEL.EFFICIENTNET.PRETRAINED", "False"])
    return {"base": base, "peak": _peak_mb()}


CHILDREN = {"train": child_train, "eval": child_eval, "json_load": child_json_load,
            "load": child_load, "large": child_large}


def _run_child(part: str, args, extra=()) -> dict:
    cmd = [sys.executable, __file__, "--child", part, "--iters", str(args.iters), *extra]
    if args.weights:
        cmd += ["--weights", args.weights]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def _large(args) -> dict:
    """The ``large`` part: the registered run on the large json and, as control, on one of
    1000 annotations; their difference is what the data costs, in parsed copies."""
    import cv2
    import numpy as np

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        cv2.imwrite(str(Path(tmp) / "blank.png"), np.zeros((320, 320, 3), np.uint8))
        for n in (args.annotations, 1000):
            json_path = Path(tmp) / f"large_{n}.json"
            write_large_json(json_path, n)
            runs[n] = _run_child("large", args, ["--json", str(json_path)])
        size = (Path(tmp) / f"large_{args.annotations}.json").stat().st_size / 2**20
        large_json = str(Path(tmp) / f"large_{args.annotations}.json")
        one = _run_child("json_load", args, ["--json", large_json])
        load = _run_child("load", args, ["--json", large_json])
    r, control = runs[args.annotations], runs[1000]
    data = r["peak"] - control["peak"]
    load_peak = load["peak"] - load["base"]
    print(f"large: {args.annotations} annotations, json {size:.1f} MB, one parsed copy "
          f"{one['one_copy']:.0f} MB; check + load into dataset dicts: peak {load_peak:.0f} MB "
          f"over imports ({load_peak / one['one_copy']:.2f} parsed copies; the dicts "
          f"{load['dicts']:.0f} MB); register + load + 2 training iterations: peak "
          f"{r['peak']:.0f} MB, {data:.0f} MB over the same run on 1000 annotations "
          f"({data / one['one_copy']:.2f} parsed copies)")
    return r


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--parts", default="train,eval,large")
    parser.add_argument("--weights", default="")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return {}

    peaks = {}
    for part in args.parts.split(","):
        if part == "large":
            r = _large(args)
        else:
            r = _run_child(part, args)
            what = {"train": f"demo training, {args.iters} iterations",
                    "eval": "evaluation of synthetic_test (500 images)"}[part]
            print(f"{part}: {what}: peak {r['peak']:.0f} MB ({r['base']:.0f} MB after imports)")
        peaks[part] = r["peak"]
    print("peak_rss_mb " + " ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    return peaks


if __name__ == "__main__":
    main()
