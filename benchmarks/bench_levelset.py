"""Speed and memory of region_levelset_energy (compiled) against its PyTorch reference.

Workload: 2 images at 200×272 (mask resolution), 40 instances with boxes of 1–10 % of the map.
Two cases: the image term (C = 3 targets, one row per image) and the feature term (C = 2
targets, one row per instance). Forward + backward of each, at 1 and 2 threads, median of
repeated runs in one process.

Peak memory: bytes of tensors allocated during forward + backward (not counting the inputs),
accounted by a TorchDispatchMode over the outputs of every dispatched op (aten ops and our
custom op), each released when its storage dies. Scratch memory inside the C++ kernel
(a few std::vectors of O(N·C) doubles) is not counted.

Accuracy: max |op - reference| / max |reference| over the energy and both gradients (fp32).

Usage: python benchmarks/bench_levelset.py [--repeats 15]
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


def make_case(channels: int, per_instance: bool, seed: int = 0):
    """Random probabilities, targets, boxes (1–10 % of the map) and target rows."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(NUM_INSTANCES, H, W, generator=g)
    image_index = torch.randint(0, NUM_IMAGES, (NUM_INSTANCES,), generator=g)
    rows = NUM_INSTANCES if per_instance else NUM_IMAGES
    targets = torch.randn(rows, channels, H, W, generator=g)
    index = torch.arange(NUM_INSTANCES) if per_instance else image_index
    frac = torch.empty(NUM_INSTANCES).uniform_(0.01, 0.10, generator=g)
    aspect = torch.empty(NUM_INSTANCES).uniform_(0.5, 2.0, generator=g)
    bw = (frac * H * W * aspect).sqrt().clamp(1, W).round().long()
    bh = (frac * H * W / bw).clamp(1, H).round().long()
    x0 = (torch.rand(NUM_INSTANCES, generator=g) * (W - bw + 1)).long()
    y0 = (torch.rand(NUM_INSTANCES, generator=g) * (H - bh + 1)).long()
    boxes = torch.stack([x0, y0, x0 + bw, y0 + bh], 1)
    return probs, targets, boxes, index


def forward_backward(fn, probs, targets, boxes, index):
    p = probs.detach().requires_grad_()
    u = targets.detach().requires_grad_()
    energy = fn(p, u, boxes, index)
    energy.sum().backward()
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cases = {
        "image term C=3 (M=2)": make_case(3, per_instance=False),
        "feature term C=2 (M=N)": make_case(2, per_instance=True, seed=1),
    }
    rows, speedups = [], []
    for name, case in cases.items():
        err = rel_error(
            forward_backward(region_levelset_energy, *case),
            forward_backward(region_levelset_energy_reference, *case),
        )
        mem_op = peak_memory(region_levelset_energy, case)
        mem_ref = peak_memory(region_levelset_energy_reference, case)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t_op = median_time(region_levelset_energy, case, args.repeats)
            t_ref = median_time(region_levelset_energy_reference, case, args.repeats)
            speedups.append(t_ref / t_op)
            rows.append(
                (name, threads, t_ref * 1e3, t_op * 1e3, t_ref / t_op, mem_ref, mem_op, err)
            )
    print(
        f"{'case':<24}{'threads':>8}{'ref ms':>10}{'op ms':>9}{'speedup':>9}"
        f"{'ref peak MB':>13}{'op peak MB':>12}{'max rel err':>13}"
    )
    for name, threads, t_ref, t_op, sp, m_ref, m_op, err in rows:
        print(
            f"{name:<24}{threads:>8}{t_ref:>10.2f}{t_op:>9.2f}{sp:>9.1f}"
            f"{m_ref / 2**20:>13.1f}{m_op / 2**20:>12.2f}{err:>13.1e}"
        )
    print(f"speedup {min(speedups):.1f}")


if __name__ == "__main__":
    main()
