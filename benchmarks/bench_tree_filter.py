"""Speed of the compiled tree filter against its scipy + PyTorch reference (not a test).

Each case filters 8 instances per image along the MST of each image's 3-channel guide, as the
deep-structural targets do: build the tree (MST + BFS), edge weights, filter forward, and the
backward to x and (learn_guide) to the guide. Both implementations run in this process on the
same inputs; times are wall-clock medians, reported per image. With ``--device cuda`` the
features and guide live on the GPU (the MST and BFS still run on the CPU, as in training), each
call is timed up to ``torch.cuda.synchronize``, and a COCO-sized grid (200×336: stride 4 of an
800×1344 input) is added.

    python benchmarks/bench_tree_filter.py [--reps 7] [--images 2] [--device cpu|cuda]

The last line is ``speedup <min over cases of reference time / op time>``.
"""
import argparse
import os
import statistics
import time

# Idle OpenMP workers sleep instead of spinning. On a shared machine with more busy processes
# than cores, spinning workers of a 2-thread run wait for each other for whole time slices
# (measured here: 60 ms instead of 0.1 ms for one torch.isfinite on 55k elements). Set the
# variable yourself to measure another policy; it must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from box2mask.ops.tree_filter import tree_filter, tree_filter_reference  # noqa: E402

SIZES = [(96, 96), (200, 272)]
COCO_SIZE = (200, 336)
INSTANCES_PER_IMAGE = 8


def make_inputs(height: int, width: int, images: int, seed: int = 0, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    guide = torch.rand(images, 3, height, width, generator=gen).to(device).requires_grad_(True)
    x = torch.rand(images * INSTANCES_PER_IMAGE, 1, height, width, generator=gen)
    x = x.to(device).requires_grad_(True)
    image_index = torch.arange(images).repeat_interleave(INSTANCES_PER_IMAGE).to(device)
    grad = torch.randn(x.shape, generator=gen).to(device)
    return x, guide, image_index, grad


def step(fn, x, guide, image_index, grad, learn_guide: bool) -> None:
    """One call with the tree built inside, forward and backward."""
    x.grad = guide.grad = None
    out, _ = fn(x, guide, 1.0, image_index, learn_guide=learn_guide)
    out.backward(grad)
    if x.is_cuda:
        torch.cuda.synchronize()


def median_time(fn, args, reps: int, warmup: bool = True):
    """Median (wall-clock seconds, process CPU seconds) of ``reps`` calls."""
    if warmup:
        step(fn, *args)
    wall, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step(fn, *args)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None):
    """Print the table; return its rows as dicts (case, threads, learn_guide, op_ms, ref_ms,
    speedup; times per image)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="timed calls of the op per case")
    parser.add_argument("--ref-reps", type=int, default=2, help="timed calls of the reference")
    parser.add_argument("--images", type=int, default=2, help="images per call (B)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    device = args.device
    sizes = SIZES + [COCO_SIZE] if device == "cuda" else SIZES

    header = (
        f"{'grid':>9} {'threads':>7} {'learn_guide':>11} {'op ms/img':>10} {'(cpu ms)':>9} "
        f"{'ref ms/img':>11} {'speedup':>8}"
    )
    print(
        f"tree filter on {device}, {INSTANCES_PER_IMAGE} instances per image, B = {args.images}, "
        "MST + BFS + forward + backward; wall-clock medians (cpu: process CPU time); "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    print(header)
    for fn in (tree_filter, tree_filter_reference):  # load the extension, scipy, allocators
        step(fn, *make_inputs(8, 8, 1, device=device), True)
    rows = []
    for height, width in sizes:
        for threads in (1, 2) if device == "cpu" else ("-",):
            if device == "cpu":
                torch.set_num_threads(threads)
            for learn_guide in (False, True):
                x, guide, image_index, grad = make_inputs(height, width, args.images, device=device)
                case = (x, guide, image_index, grad, learn_guide)
                op, op_cpu = median_time(tree_filter, case, args.reps)
                ref, _ = median_time(tree_filter_reference, case, args.ref_reps, warmup=False)
                op, op_cpu, ref = (t / args.images for t in (op, op_cpu, ref))
                rows.append(dict(case=f"{height}x{width}", threads=threads,
                                 learn_guide=learn_guide, op_ms=op * 1e3, ref_ms=ref * 1e3,
                                 speedup=ref / op))  # fmt: skip
                print(
                    f"{height:>4}x{width:<4} {threads:>7} {str(learn_guide):>11} "
                    f"{op * 1e3:>10.2f} {op_cpu * 1e3:>9.2f} {ref * 1e3:>11.1f} {ref / op:>7.0f}x"
                )
    print(f"speedup {min(r['speedup'] for r in rows):.1f}")
    return rows


if __name__ == "__main__":
    main()
