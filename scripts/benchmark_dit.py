"""Time forward+backward of our MiniTrainDIT against diffusers' CosmosTransformer3DModel, same config.

Both nets carry identical weights (mapped with models/key_maps.py) and get identical inputs; runs are
interleaved (ours, diffusers, ours, ...) so load from other processes hits both alike. Reports the relative
difference of the two outputs (both time the same function of the same inputs), the median step time (and the
ratio of the best times, less sensitive to a shared machine), the ratio ours/diffusers (goal <= 1.0), tokens/s and
the estimated FLOP utilisation against a measured matmul peak in the same dtype on the same device.

Example (CPU, 2 threads):
    python scripts/benchmark_dit.py --width 512 --heads 8 --blocks 2 --latent 4x16x16 --dtypes fp32,bf16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosmos_predict2.models.diffusers_reference import build_reference, reference_forward  # noqa: E402
from cosmos_predict2.models.dit import MiniTrainDIT  # noqa: E402
from cosmos_predict2.models.presets import net_kwargs  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=512, help="model_channels D")
    p.add_argument("--heads", type=int, default=0, help="attention heads (default: D // 128, at least 1)")
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--latent", default="4x16x16", help="latent T x H x W; tokens = T * H/2 * W/2")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--text-len", type=int, default=32, help="cross-attention tokens (dim 1024)")
    p.add_argument("--dtypes", default="fp32,bf16", help="comma list of fp32,bf16 (CPU); GPU always adds bf16")
    p.add_argument("--device", default="auto", help="cpu | cuda | auto (= CPU, plus CUDA if present)")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave as is)")
    return p.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_flops(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """Measured FLOP/s of an n x n x n matmul (best of `reps`)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(reps + 1):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def dit_forward_flops(D: int, blocks: int, S: int, N: int, ctx_dim: int, B: int, out_per_token: int, in_per_token: int) -> float:
    """Matmul FLOPs of one forward (2 per multiply-add); backward is counted as 2x forward."""
    per_block = (
        2 * S * 4 * D * D  # self-attn q, k, v, out
        + 2 * 2 * S * S * D  # self-attn scores and weighted sum
        + 2 * S * 2 * D * D + 2 * N * 2 * ctx_dim * D  # cross-attn q, out; k, v on the text
        + 2 * 2 * S * N * D  # cross-attn scores and weighted sum
        + 2 * S * 8 * D * D  # MLP D -> 4D -> D
    )
    return B * (blocks * per_block + 2 * S * D * (in_per_token + out_per_token))


def time_step(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def bench_one(args, device: torch.device, dtype: torch.dtype) -> dict:
    heads = args.heads or max(1, args.width // 128)
    T, H, W = (int(v) for v in args.latent.lower().split("x"))
    torch.manual_seed(0)
    ours = MiniTrainDIT(**net_kwargs("2B", model_channels=args.width, num_heads=heads, num_blocks=args.blocks))
    ref = build_reference(ours)
    ours, ref = ours.to(device, dtype).train(), ref.to(device, dtype).train()
    g = torch.Generator().manual_seed(1)
    B = args.batch
    x = torch.randn(B, 16, T, H, W, generator=g).to(device, dtype)
    t = torch.rand(B, T, generator=g).to(device, dtype)
    ctx = torch.randn(B, args.text_len, 1024, generator=g).to(device, dtype)
    cond = torch.zeros(B, 1, T, H, W, device=device, dtype=dtype)
    cond[:, :, 0] = 1
    pad = torch.zeros(1, 1, H, W, device=device, dtype=dtype)

    def step_ours():
        ours(x, t, ctx, cond, padding_mask=pad).float().square().mean().backward()
        ours.zero_grad(set_to_none=True)

    def step_ref():
        reference_forward(ref, x, t, ctx, cond, pad).float().square().mean().backward()
        ref.zero_grad(set_to_none=True)

    with torch.no_grad():
        out_ours = ours(x, t, ctx, cond, padding_mask=pad).float()
        out_ref = reference_forward(ref, x, t, ctx, cond, pad).float()
    output_rel_diff = ((out_ours - out_ref).norm() / out_ref.norm()).item()
    for _ in range(args.warmup):
        step_ours()
        step_ref()
    times_ours, times_ref = [], []
    for _ in range(args.iters):
        times_ours.append(time_step(step_ours, device))
        times_ref.append(time_step(step_ref, device))
    S = T * (H // 2) * (W // 2)
    flops = 3 * dit_forward_flops(args.width, args.blocks, S, args.text_len, 1024, B, 64, 18 * 4)
    peak = matmul_peak_flops(device, dtype)
    t_ours, t_ref = statistics.median(times_ours), statistics.median(times_ref)
    return dict(
        device=device.type, dtype=str(dtype).replace("torch.", ""), D=args.width, heads=heads, blocks=args.blocks,
        tokens=B * S, output_rel_diff=output_rel_diff, ours_steps=len(times_ours), diffusers_steps=len(times_ref),
        ours_s=t_ours, diffusers_s=t_ref, ratio=t_ours / t_ref,
        best_ratio=min(times_ours) / min(times_ref),
        ours_tok_s=B * S / t_ours, diffusers_tok_s=B * S / t_ref,
        ours_util=flops / t_ours / peak, diffusers_util=flops / t_ref / peak, peak_gflops=peak / 1e9,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    runs: list[tuple[torch.device, torch.dtype]] = []
    if args.device in ("cpu", "auto"):
        runs += [(torch.device("cpu"), DTYPES[d.strip()]) for d in args.dtypes.split(",") if d.strip()]
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        runs.append((torch.device("cuda"), torch.bfloat16))
    header = ("| device | dtype | D | heads | blocks | tokens | output rel. diff | ours fwd+bwd (s) | diffusers (s) "
              "| ratio ours/diffusers "
              "| ratio of best times | ours tok/s | diffusers tok/s | ours FLOP util | diffusers FLOP util | matmul peak GFLOP/s |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for device, dtype in runs:
        r = bench_one(args, device, dtype)
        print(
            f"| {r['device']} | {r['dtype']} | {r['D']} | {r['heads']} | {r['blocks']} | {r['tokens']} "
            f"| {r['output_rel_diff']:.1e} | {r['ours_s']:.4f} "
            f"| {r['diffusers_s']:.4f} | {r['ratio']:.3f} | {r['best_ratio']:.3f} | {r['ours_tok_s']:.0f} | {r['diffusers_tok_s']:.0f} "
            f"| {100 * r['ours_util']:.1f}% | {100 * r['diffusers_util']:.1f}% | {r['peak_gflops']:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
