"""Speed of the compiled multi-scale deformable attention vs its ``grid_sample`` reference.

The shapes of the Box2Mask-T pixel decoder on a 512 x 512 image: levels of strides 8, 16, 32
(64x64, 32x32, 16x16), 256 channels in 8 heads (D = 32), 4 points per level and head, one query
per pixel of the three levels (encoder self-attention), batch 1. Sampling locations are each
query's pixel centre plus Gaussian offsets of a few pixels, as a trained encoder produces.

Each case times forward + backward (all three gradients) of the op and of the reference and
prints a table; the last line is ``speedup <x>``, the smallest op-over-reference ratio over the
cases (thread counts, default 1 and 2). With ``--device cuda`` both run on the GPU, timed up to
``torch.cuda.synchronize``, on the ``--size`` input and on a COCO-sized 800 x 1344 one.

    python benchmarks/bench_msdeform_attn.py [--threads 1 2] [--size 512] [--repeat 5]
        [--device cpu|cuda]
"""
import argparse
import statistics
import time

import torch

from box2mask.ops import ms_deform_attn, ms_deform_attn_reference


COCO_SIZE = (800, 1344)  # (height, width) of a COCO input, padded to a multiple of 32


def make_inputs(size=512, strides=(8, 16, 32), channels=256, heads=8, points=4, batch=1, seed=0,
                width=None):  # fmt: skip
    """Random inputs of the given geometry (see the module docstring); the image is
    ``size`` x ``width`` (square if width is None).

    Returns:
        tuple: value [B, S, M, D], spatial_shapes [L, 2], level_start_index [L],
            sampling_locations [B, Q, M, L, P, 2], attention_weights [B, Q, M, L, P]; Q = S.
    """
    g = torch.Generator().manual_seed(seed)
    width = size if width is None else width
    shapes = torch.tensor([[size // s, width // s] for s in strides], dtype=torch.long)
    areas = shapes.prod(1)
    starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    S, L, M, D, P = int(areas.sum()), len(strides), heads, channels // heads, points
    value = torch.randn(batch, S, M, D, generator=g)
    # Reference point of each query: its own pixel centre, normalised (x, y).
    refs = []
    for h, w in shapes.tolist():
        ys, xs = torch.meshgrid(
            (torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij"
        )
        refs.append(torch.stack([xs, ys], -1).reshape(-1, 2))
    refs = torch.cat(refs)  # [Q, 2]
    offsets = 2.0 * torch.randn(batch, S, M, L, P, 2, generator=g)  # pixels of each level
    wh = shapes.flip(1).to(torch.float32)  # [L, 2] (W_l, H_l)
    locations = refs[None, :, None, None, None, :] + offsets / wh[None, None, None, :, None, :]
    weights = torch.randn(batch, S, M, L * P, generator=g).softmax(-1).view(batch, S, M, L, P)
    return value, shapes, starts, locations, weights


def time_fwd_bwd(fn, inputs, repeat):
    """Median seconds of forward + backward (gradients of value, locations and weights)."""
    value, shapes, starts, locations, weights = inputs
    leaves = [t.detach().clone().requires_grad_() for t in (value, locations, weights)]
    times = []
    for i in range(repeat + 1):  # the first run warms up
        for t in leaves:
            t.grad = None
        t0 = time.perf_counter()
        out = fn(leaves[0], shapes, starts, leaves[1], leaves[2])
        out.backward(torch.ones_like(out))
        if out.is_cuda:
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    """Print the table; return its rows as dicts (case, threads, op_ms, ref_ms, speedup)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", type=int, default=512, help="input image side (pixels)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (median)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)

    images = {f"{args.size}x{args.size}": (args.size, args.size)}
    if args.device == "cuda":
        images[f"{COCO_SIZE[0]}x{COCO_SIZE[1]}"] = COCO_SIZE
    print(f"ms_deform_attn forward+backward on {args.device}")
    print(f"{'image':>9} {'Q=S':>6} {'threads':>7} {'op ms':>9} {'ref ms':>9} {'speedup':>8}")
    rows = []
    for name, (height, width) in images.items():
        inputs = [t.to(args.device) for t in make_inputs(height, width=width)]
        S = inputs[0].shape[1]
        for threads in args.threads if args.device == "cpu" else ["-"]:
            if args.device == "cpu":
                torch.set_num_threads(threads)
            t_op = time_fwd_bwd(ms_deform_attn, inputs, args.repeat)
            t_ref = time_fwd_bwd(ms_deform_attn_reference, inputs, args.repeat)
            rows.append(dict(case=name, threads=threads, op_ms=1e3 * t_op, ref_ms=1e3 * t_ref,
                             speedup=t_ref / t_op))  # fmt: skip
            print(f"{name:>9} {S:>6} {threads:>7} {1e3 * t_op:>9.1f} {1e3 * t_ref:>9.1f} "
                  f"{t_ref / t_op:>7.2f}x")  # fmt: skip
    B, _, M, D = inputs[0].shape
    L, P = inputs[3].shape[3:5]
    print(f"B={B} M={M} D={D} L={L} P={P}")
    print(f"speedup {min(r['speedup'] for r in rows):.2f}")
    return rows


if __name__ == "__main__":
    main()
