"""The GPU check (``make gpu-check``): the ``cuda`` tests, the op benchmarks on CUDA, a short demo
training on the GPU and the inference latency against Mask R-CNN, in one table.

    python benchmarks/gpu_check.py [--steps tests,ops,train,speed] [--iters 200]
        [--output output/gpu_check.md]

Steps: ``tests`` runs ``pytest -m cuda`` (tests/ops/test_cuda.py, tests/modeling/
test_cuda_models.py); ``ops`` the three op benchmarks with ``--device cuda`` (op against its
PyTorch reference, forward + backward, including a COCO-sized case); ``train`` a demo
Box2Mask-C training of ``--iters`` iterations (train_net.py, MODEL.DEVICE cuda; iterations per
second from the median iteration time in its metrics.json, warm-up excluded; the synthetic data is
generated first if missing); ``speed``
``benchmarks/speed.py --device cuda`` at 800 (random weights, full and network load). The table
is printed and written to ``--output``; the exit status is 1 when a test or the training failed.
"""
import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from box2mask.data.builtin import generate_builtin  # noqa: E402
from box2mask.ops import cuda_built  # noqa: E402

TRAIN_CONFIG = "configs/demo/box2mask_c_effnet_lite0.yaml"
SPEED_MODELS = ("box2mask-c R-50-FPN", "mask-rcnn R-50-FPN")


def load_benchmark(name: str):
    """Import benchmarks/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_summary(output: str) -> str:
    """The counts of pytest's last line, e.g. "95 passed, 5 skipped"."""
    lines = output.strip().splitlines()
    return lines[-1].strip("= ").split(" in ")[0] if lines else "no output (see the log above)"


def run_tests():
    """([(check, result)], ok)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-m", "cuda",
           "tests/ops/test_cuda.py", "tests/modeling/test_cuda_models.py"]  # fmt: skip
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    print(run.stdout[-6000:], run.stderr[-2000:], sep="\n")
    return [("`cuda` tests", pytest_summary(run.stdout))], run.returncode == 0


def op_rows(name: str, rows):
    """Table rows of one op benchmark: op ms against reference ms."""
    out = []
    for r in rows:
        case = r["case"] + (f", learn_guide={r['learn_guide']}" if "learn_guide" in r else "")
        out.append((f"{name}: {case}, forward + backward",
                    f"op {r['op_ms']:.2f} ms, reference {r['ref_ms']:.2f} ms "
                    f"({r['speedup']:.1f}x)"))  # fmt: skip
    return out


def run_ops():
    rows = op_rows("level-set energy", load_benchmark("bench_levelset").main(["--device", "cuda"]))
    rows += op_rows("tree filter", load_benchmark("bench_tree_filter").main(["--device", "cuda"]))
    rows += op_rows(
        "MSDeformAttn", load_benchmark("bench_msdeform_attn").main(["--device", "cuda"])
    )
    return rows, True


def iterations_per_second(metrics: Path, warmup: int = 20) -> float:
    """1 / median of the per-iteration times detectron2 logged after ``warmup`` iterations."""
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    times = [r["time"] for r in records if "time" in r and r.get("iteration", 0) >= warmup]
    return 1.0 / statistics.median(times)


def run_training(iters: int, output_dir: Path):
    generate_builtin("synthetic_train")  # the demo data, written once
    cmd = [sys.executable, "train_net.py", "--config-file", TRAIN_CONFIG,
           "MODEL.DEVICE", "cuda", "SOLVER.MAX_ITER", str(iters), "SOLVER.CHECKPOINT_PERIOD",
           str(10 * iters), "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()",
           "DATALOADER.NUM_WORKERS", "4", "OUTPUT_DIR", str(output_dir)]  # fmt: skip
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    metrics = output_dir / "metrics.json"
    check = f"demo training Box2Mask-C (EfficientNet-Lite0, 4 × 320²), {iters} iterations"
    if run.returncode != 0 or not metrics.exists():
        print(run.stdout[-3000:], run.stderr[-5000:], sep="\n")
        return [(check, f"FAILED (exit status {run.returncode})")], False
    return [(check, f"{iterations_per_second(metrics):.1f} it/s")], True


def run_speed():
    latencies = load_benchmark("speed").main(
        ["--device", "cuda", "--sizes", "800", "--load", "full,network", "--no-memory"]
    )
    rows = []
    for load, latency in latencies.items():
        for name in SPEED_MODELS:
            rows.append((f"inference {name}, short side 800, {load} load",
                         f"{latency[name][800] * 1000:.1f} ms"))  # fmt: skip
    return rows, True


def markdown(rows) -> str:
    lines = ["| check | result |", "|---|---|"]
    lines += [f"| {check} | {result} |" for check, result in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="tests,ops,train,speed")
    parser.add_argument("--iters", type=int, default=200, help="demo training iterations")
    parser.add_argument("--output", default="output/gpu_check.md")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device")
    if not cuda_built():
        sys.exit("gpu_check: box2mask._C has no CUDA kernels; rebuild: FORCE_CUDA=1 make setup")
    output = ROOT / args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_properties(0)
    rows = [("GPU", f"{device.name}, {device.total_memory / 2**30:.0f} GiB, torch "
                    f"{torch.__version__}, CUDA {torch.version.cuda}")]  # fmt: skip
    steps = {
        "tests": run_tests,
        "ops": run_ops,
        "train": lambda: run_training(args.iters, output.parent / "gpu_check_train"),
        "speed": run_speed,
    }
    ok = True
    for step in args.steps.split(","):
        print(f"\n# gpu_check: {step}", flush=True)
        step_rows, step_ok = steps[step]()
        rows += step_rows
        ok &= step_ok
    table = markdown(rows)
    output.write_text(table)
    print(f"\n{table}\nwritten to {output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
