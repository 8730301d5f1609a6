"""Speed of the compiled tree filter against its scipy + PyTorch reference (not a test).

Each case filters 8 instances per image along the MST of each image's 3-channel guide, as the
deep-structural targets do: build the tree (MST + BFS), edge weights, filter forward, and the
backward to x and (learn_guide) to the guide. Both implementations run in this process on the
same inputs; times are wall-clock medians, reported per image.

    python benchmarks/bench_tree_filter.py [--reps 7] [--images 2]

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
INSTANCES_PER_IMAGE = 8


def make_inputs(height: int, width: int, images: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    guide = torch.rand(images, 3, height, width, generator=gen, requires_grad=True)
    x = torch.rand(images * INSTANCES_PER_IMAGE, 1, height, width, generator=gen)
    x.requires_grad_(True)
    image_index = torch.arange(images).repeat_interleave(INSTANCES_PER_IMAGE)
    grad = torch.randn(x.shape, generator=gen)
    return x, guide, image_index, grad


def step(fn, x, guide, image_index, grad, learn_guide: bool) -> None:
    """One call with the tree built inside, forward and backward."""
    x.grad = guide.grad = None
    out, _ = fn(x, guide, 1.0, image_index, learn_guide=learn_guide)
    out.backward(grad)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="timed calls of the op per case")
    parser.add_argument("--ref-reps", type=int, default=2, help="timed calls of the reference")
    parser.add_argument("--images", type=int, default=2, help="images per call (B)")
    args = parser.parse_args()

    header = (
        f"{'grid':>9} {'threads':>7} {'learn_guide':>11} {'op ms/img':>10} {'(cpu ms)':>9} "
        f"{'ref ms/img':>11} {'speedup':>8}"
    )
    print(
        f"tree filter, {INSTANCES_PER_IMAGE} instances per image, B = {args.images}, "
        "MST + BFS + forward + backward; wall-clock medians (cpu: process CPU time); "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    print(header)
    for fn in (tree_filter, tree_filter_reference):  # load the extension, scipy, allocators
        step(fn, *make_inputs(8, 8, 1), True)
    speedups = []
    for height, width in SIZES:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for learn_guide in (False, True):
                x, guide, image_index, grad = make_inputs(height, width, args.images)
                case = (x, guide, image_index, grad, learn_guide)
                op, op_cpu = median_time(tree_filter, case, args.reps)
                ref, _ = median_time(tree_filter_reference, case, args.ref_reps, warmup=False)
                op, op_cpu, ref = (t / args.images for t in (op, op_cpu, ref))
                speedups.append(ref / op)
                print(
                    f"{height:>4}x{width:<4} {threads:>7} {str(learn_guide):>11} "
                    f"{op * 1e3:>10.2f} {op_cpu * 1e3:>9.2f} {ref * 1e3:>11.1f} {ref / op:>7.0f}x"
                )
    print(f"speedup {min(speedups):.1f}")


if __name__ == "__main__":
    main()
