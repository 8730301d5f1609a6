"""Peak resident memory (RSS) of Box2Mask's demo training, of evaluation on 500 images, and of
registering and starting to train on a json of 100k annotations.

    python benchmarks/memory.py [--iters 20] [--annotations 100000] [--parts train,eval,large]

Each measurement runs in a fresh subprocess and reports its peak RSS (``ru_maxrss``) and the
RSS after imports, so the figures do not include each other:

* ``train``: the demo config (Box2Mask-C, EfficientNet-Lite0, synthetic_train) for ``--iters``
  iterations, one loader worker;
* ``eval``: the demo model (random weights unless ``--weights``) evaluated on synthetic_test
  (500 images, COCOEvaluator, box and mask AP);
* ``large``: a synthetic json of ``--annotations`` boxes over 2000 images, 50 an image
  (written to a temporary folder). Measured alone: ``json.load`` of it (the RSS it adds is
  one parsed copy; its peak also holds the file's text), then loading the registered set
  (``DatasetCatalog.get``: check, convert, serialise). Then the run: registration, the
  trainer built on the demo config (data loaded and serialised, model, optimizer: training
  starts) and two training iterations, and the same run on a json of 1000 annotations over
  20 images (the same 50 boxes an image); the difference of the peaks when training starts,
  in parsed copies, is what the data costs. After the two iterations both peaks are mostly
  the iterations' own memory, which varies with the boxes of the sampled images.

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
    import box2mask.engine  # noqa: F401  (the same imports, so the same allocator state)

    base = _rss_mb()
    with open(args.json) as f:
        data = json.load(f)
    after = _rss_mb()
    del data
    return {"base": base, "peak": _peak_mb(), "one_copy": after - base}


def child_load(args) -> dict:
    from detectron2.data import DatasetCatalog

    from box2mask import register_box_coco

    base = _rss_mb()
    register_box_coco("memory_load", args.json, str(Path(args.json).parent))
    dicts = DatasetCatalog.get("memory_load")
    nbytes = getattr(dicts, "nbytes", None)  # a SerializedDicts knows its size
    return {"base": base, "peak": _peak_mb(), "held": _rss_mb() - base, "n": len(dicts),
            "nbytes": None if nbytes is None else nbytes / 2**20, "type": type(dicts).__name__}


def child_large(args) -> dict:
    from box2mask import register_box_coco
    from box2mask.engine import Trainer

    base = _rss_mb()
    register_box_coco("memory_large", args.json, str(Path(args.json).parent))
    with tempfile.TemporaryDirectory() as out:
        cfg = _cfg(["SOLVER.MAX_ITER", "2", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()",
                    "SOLVER.CHECKPOINT_PERIOD", "100000", "OUTPUT_DIR", out,
                    "DATASETS.TRAIN", "('memory_large',)", "DATALOADER.NUM_WORKERS", "0",
                    "MODEL.EFFICIENTNET.PRETRAINED", "False"])
        trainer = Trainer(cfg)
        start = _peak_mb()
        trainer.train()
    return {"base": base, "start": start, "peak": _peak_mb()}


CHILDREN = {"train": child_train, "eval": child_eval, "json_load": child_json_load,
            "load": child_load, "large": child_large}


def _run_child(part: str, args, extra=()) -> dict:
    cmd = [sys.executable, __file__, "--child", part, "--iters", str(args.iters), *extra]
    if args.weights:
        cmd += ["--weights", args.weights]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def _large(args) -> dict:
    """The ``large`` part: ``json.load`` alone, loading the registered set alone, and the
    registered run on the large json and, as control, on one of 1000 annotations at the same
    boxes per image; their difference is what the data costs, in parsed copies."""
    import cv2
    import numpy as np

    per_image = 50
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        cv2.imwrite(str(Path(tmp) / "blank.png"), np.zeros((320, 320, 3), np.uint8))
        for n in (args.annotations, 1000):
            json_path = Path(tmp) / f"large_{n}.json"
            write_large_json(json_path, n, images=max(1, n // per_image))
            runs[n] = _run_child("large", args, ["--json", str(json_path)])
        large_json = str(Path(tmp) / f"large_{args.annotations}.json")
        size = Path(large_json).stat().st_size / 2**20
        one = _run_child("json_load", args, ["--json", large_json])
        load = _run_child("load", args, ["--json", large_json])
    r, control = runs[args.annotations], runs[1000]
    copy = one["one_copy"]
    json_peak = one["peak"] - one["base"]
    load_peak = load["peak"] - load["base"]
    held = (f"{load['type']} of {load['nbytes']:.1f} MB" if load["nbytes"] is not None
            else f"{load['type']}, {load['held']:.0f} MB of RSS")
    start = r["start"] - control["start"]
    data = r["peak"] - control["peak"]
    print(f"large: {args.annotations} annotations over {args.annotations // per_image} images, "
          f"json {size:.1f} MB; json.load: one parsed copy {copy:.0f} MB, peak {json_peak:.0f} MB "
          f"({json_peak / copy:.2f} parsed copies); loading the registered set: peak "
          f"{load_peak:.0f} MB over imports ({load_peak / copy:.2f} parsed copies), holds a "
          f"{held}; register + build the trainer (training starts): peak {r['start']:.0f} MB, "
          f"{start:.0f} MB over the same on 1000 annotations ({start / copy:.2f} parsed copies); "
          f"+ 2 training iterations: peak {r['peak']:.0f} MB, {data:.0f} MB over the same "
          f"({data / copy:.2f} parsed copies; mostly the iterations' own memory, which varies "
          f"with the boxes of the sampled images)")
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
