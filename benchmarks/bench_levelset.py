"""Speed and memory of region_levelset_energy (compiled) against its PyTorch reference.

Workload: 2 images at 200×272 (mask resolution), 40 instances with boxes of 1–10 % of the map.
Two cases: the image term (C = 3 targets, one row per image) and the feature term (C = 2
targets, one row per instance). Forward + backward of each, at 1 and 2 threads on the CPU (one
row per case on CUDA, timed up to ``torch.cuda.synchronize``), median of repeated runs in one
process. ``--device cuda`` adds a COCO-sized case: 2 images at 800×1344 (masks 200×336) with
100 instances, the image term.

Peak memory: bytes of tensors allocated during forward + backward (not counting the inputs),
accounted by a TorchDispatchMode over the outputs of every dispatched op (aten ops and our
custom op), each released when its storage dies. Scratch memory inside the C++ kernel
(a few std::vectors of O(N·C) doubles) is not counted.

Accuracy: max |op - reference| / max |reference| over the energy and both gradients (fp32).

Usage: python benchmarks/bench_levelset.py [--repeats 15] [--device cpu|cuda]
The last line printed is `speedup <min over the cases>`.
"""

import argparse
import os
import statistics
import sys
import time
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from box2mask.ops import region_levelset_energy, region_levelset_energy_reference  # noqa: E402

H, W = 200, 272
NUM_IMAGES, NUM_INSTANCES = 2, 40
COCO_H, COCO_W, COCO_INSTANCES = 200, 336, 100


class PeakTensorMemory(TorchDispatchMode):
    """Peak bytes of tensor storages created by dispatched ops while the mode is active."""

    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._live = set()

    def _release(self, key, nbytes):
        self.current -= nbytes
        self._live.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if nbytes == 0 or key in self._live:
                    continue
                self._live.add(key)
                self.current += nbytes
                self.peak = max(self.peak, self.current)
                weakref.finalize(storage, self._release, key, nbytes)
        return out


def make_case(channels: int, per_instance: bool, seed: int = 0, h=H, w=W, n=NUM_INSTANCES,
              device="cpu"):  # fmt: skip
    """Random probabilities, targets, boxes (1–10 % of the map) and target rows on ``device``."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, h, w, generator=g)
    image_index = torch.randint(0, NUM_IMAGES, (n,), generator=g)
    rows = n if per_instance else NUM_IMAGES
    targets = torch.randn(rows, channels, h, w, generator=g)
    index = torch.arange(n) if per_instance else image_index
    frac = torch.empty(n).uniform_(0.01, 0.10, generator=g)
    aspect = torch.empty(n).uniform_(0.5, 2.0, generator=g)
    bw = (frac * h * w * aspect).sqrt().clamp(1, w).round().long()
    bh = (frac * h * w / bw).clamp(1, h).round().long()
    x0 = (torch.rand(n, generator=g) * (w - bw + 1)).long()
    y0 = (torch.rand(n, generator=g) * (h - bh + 1)).long()
    boxes = torch.stack([x0, y0, x0 + bw, y0 + bh], 1)
    return tuple(t.to(device) for t in (probs, targets, boxes, index))


def forward_backward(fn, probs, targets, boxes, index):
    p = probs.detach().requires_grad_()
    u = targets.detach().requires_grad_()
    energy = fn(p, u, boxes, index)
    energy.sum().backward()
    if p.is_cuda:
        torch.cuda.synchronize()
    return energy.detach(), p.grad, u.grad


def median_time(fn, case, repeats):
    forward_backward(fn, *case)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        forward_backward(fn, *case)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_memory(fn, case):
    mode = PeakTensorMemory()
    with mode:
        out = forward_backward(fn, *case)
    del out
    return mode.peak


def rel_error(a, b):
    return max((x - y).abs().max().item() / max(y.abs().max().item(), 1e-30) for x, y in zip(a, b))


def main(argv=None):
    """Print the table; return its rows as dicts (case, threads, ref_ms, op_ms, speedup, ...)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    device = args.device
    cases = {
        "image term C=3 (M=2)": make_case(3, per_instance=False, device=device),
        "feature term C=2 (M=N)": make_case(2, per_instance=True, seed=1, device=device),
    }
    if device == "cuda":
        cases["COCO 200x336 N=100 C=3"] = make_case(
            3, False, seed=2, h=COCO_H, w=COCO_W, n=COCO_INSTANCES, device=device
        )
    rows, speedups = [], []
    for name, case in cases.items():
        err = rel_error(
            forward_backward(region_levelset_energy, *case),
            forward_backward(region_levelset_energy_reference, *case),
        )
        mem_op = peak_memory(region_levelset_energy, case)
        mem_ref = peak_memory(region_levelset_energy_reference, case)
        for threads in (1, 2) if device == "cpu" else ("-",):
            if device == "cpu":
                torch.set_num_threads(threads)
            t_op = median_time(region_levelset_energy, case, args.repeats)
            t_ref = median_time(region_levelset_energy_reference, case, args.repeats)
            speedups.append(t_ref / t_op)
            rows.append(dict(case=name, threads=threads, ref_ms=t_ref * 1e3, op_ms=t_op * 1e3,
                             speedup=t_ref / t_op, ref_peak_mb=mem_ref / 2**20,
                             op_peak_mb=mem_op / 2**20, max_rel_err=err))  # fmt: skip
    print(
        f"{'case':<24}{'threads':>8}{'ref ms':>10}{'op ms':>9}{'speedup':>9}"
        f"{'ref peak MB':>13}{'op peak MB':>12}{'max rel err':>13}"
    )
    for r in rows:
        print(
            f"{r['case']:<24}{r['threads']:>8}{r['ref_ms']:>10.2f}{r['op_ms']:>9.2f}"
            f"{r['speedup']:>9.1f}{r['ref_peak_mb']:>13.1f}{r['op_peak_mb']:>12.2f}"
            f"{r['max_rel_err']:>13.1e}"
        )
    print(f"speedup {min(speedups):.1f}")
    return rows


if __name__ == "__main__":
    main()
