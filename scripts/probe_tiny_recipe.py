"""Fast recipe probe: train an experiment's model on cached latents and watch short-protocol PSNR.

Loads every training window of a Bridge-layout split into memory once, encodes it with the experiment's
tokenizer, then trains the model directly (no data loader, no checkpoints) and every ``--eval-every``
iterations samples the validation windows (1 conditioning frame + 12 actions) with the true actions and
with another window's actions. Prints PSNR (frame 0 excluded) next to copy-the-first-frame and the
tokenizer's own round trip, so a recipe change can be judged in minutes instead of a full training run.

    python -m scripts.probe_tiny_recipe --data datasets/synthetic_bridge --iters 1000 \
        model.config.net.num_blocks=6
    python -m scripts.probe_tiny_recipe --regress ...   # deterministic regression instead of diffusion
    python -m scripts.probe_tiny_recipe --long-episodes 16 ...  # also the long protocol on 16 val episodes

``--regress`` trains the same net as a plain regressor (future frames from the conditioning frame and the
actions, one fixed timestep): an upper bound on how fast the net can learn to use its inputs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from tqdm import tqdm

from cosmos_predict2.configs.compose import compose_config
from cosmos_predict2.evaluation.metrics import capped_mean_psnr, psnr_per_frame
from cosmos_predict2.lazy_config import instantiate


def _windows(cfg, data: str, mode: str, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, T, H, W) uint8 videos and (N, T-1, 7) actions of every ``stride``-th window of ``mode``."""
    ds = instantiate(cfg.dataloader_train.dataset, dataset_dir=data, mode=mode)
    vids, acts = [], []
    for i in tqdm(range(0, len(ds), stride), desc=f"load {mode}", leave=False):
        s = ds[i]
        vids.append(s["video"])
        acts.append(s["action"])
    return torch.stack(vids), torch.stack(acts).float()


def psnr_excluding_first(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean per-frame PSNR of [-1, 1] videos (B, C, T, H, W) over frames 1..T-1 (the evaluation's metric)."""
    def frames(v):  # (B, C, T, H, W) in [-1, 1] -> (B, T, H, W, 3) in [0, 255]
        return ((v.double() + 1) * 127.5).permute(0, 2, 3, 4, 1)

    values = [psnr_per_frame(p[1:], g[1:]) for p, g in zip(frames(x), frames(y))]
    return capped_mean_psnr(np.concatenate(values))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="tiny_action_conditioned_bridge")
    p.add_argument("--data", default="datasets/synthetic_bridge")
    p.add_argument("--iters", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--num-steps", type=int, default=10, help="sampling steps at evaluation")
    p.add_argument("--val-stride", type=int, default=8, help="every N-th validation window")
    p.add_argument("--regress", action="store_true", help="train as a deterministic regressor")
    p.add_argument("--long-episodes", type=int, default=0,
                   help="also score the long protocol (chunked rollout) on this many validation episodes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("overrides", nargs="*", help="config overrides, as for scripts.train")
    args = p.parse_args(argv)
    if args.long_episodes < 0:
        p.error(f"--long-episodes must be >= 0 (0 = no long protocol), got {args.long_episodes}")
    if args.long_episodes and args.regress:
        p.error("--long-episodes rolls out with the sampler; it cannot be combined with --regress")
    torch.manual_seed(args.seed)
    cfg = compose_config(overrides=[f"experiment={args.experiment}", *args.overrides])
    model = instantiate(cfg.model)
    print(f"net: {sum(q.numel() for q in model.net.parameters()) / 1e6:.2f} M parameters")
    train_video, train_action = _windows(cfg, args.data, "train", 1)
    val_video, val_action = _windows(cfg, args.data, "val", args.val_stride)
    with torch.no_grad():
        train_lat = torch.cat([model.encode(train_video[i:i + 256]) for i in range(0, len(train_video), 256)])
        val_lat = model.encode(val_video)
    gt = val_video.float() / 127.5 - 1
    print(f"{len(train_lat)} training windows, {len(val_lat)} validation windows; PSNR copy-first-frame "
          f"{psnr_excluding_first(gt[:, :, :1].expand_as(gt), gt):.2f} dB, tokenizer round trip "
          f"{psnr_excluding_first(model.decode(val_lat).clamp(-1, 1), gt):.2f} dB")

    def regress(lat, act):  # net input: the conditioning frame, zeros elsewhere, timestep 1 on predicted frames
        cond = model.build_condition({"latent": lat, "action": act}, lat, training=False)
        m = cond.condition_mask_B_1_T_1_1
        t_B_T = (1 - m[:, 0, :, 0, 0]).expand(lat.shape[0], lat.shape[2])
        out = model.net_fn(model.net, cond, lat.shape[-2], lat.shape[-1])(lat * m, t_B_T)
        return lat * m + out * (1 - m), m

    long_episodes = []
    if args.long_episodes > 0:
        from cosmos_predict2.evaluation.episodes import bridge_params_from_config, load_bridge_episodes

        long_episodes = load_bridge_episodes(args.data, "val", max_episodes=args.long_episodes,
                                             **bridge_params_from_config(cfg))

    def evaluate_long() -> str:
        """Long-protocol PSNR (model / shuffled actions / copy-last-frame) with the project's evaluation."""
        from cosmos_predict2.evaluation.evaluate import evaluate as evaluate_episodes
        from cosmos_predict2.evaluation.evaluate import evaluation_rollout

        rollout = evaluation_rollout(fps=float(cfg.model.config.fps))
        summary = evaluate_episodes(model, long_episodes, protocols=("long",),
                                    methods=("model", "shuffled_actions", "copy_last_frame"),
                                    num_steps=args.num_steps, rollout_fn=rollout, progress=False,
                                    print_table=False)["protocols"]["long"]
        methods = {k: v for k, v in summary.items() if isinstance(v, dict)}  # skips "seconds"
        return "; long protocol " + ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in methods.items())

    @torch.no_grad()
    def evaluate(it: int) -> None:
        model.eval()
        res = {}
        for name, act in (("true actions", val_action), ("shuffled actions", val_action.roll(1, 0))):
            out = []
            for i in range(0, len(val_lat), 16):
                lat, a = val_lat[i:i + 16], act[i:i + 16]
                z = regress(lat, a)[0] if args.regress else model.generate(
                    {"latent": lat, "action": a}, num_steps=args.num_steps, seed=1)
                out.append(model.decode(z).clamp(-1, 1))
            res[name] = psnr_excluding_first(torch.cat(out), gt)
        extra = evaluate_long() if long_episodes else ""
        model.train()
        print(f"iter {it}: PSNR " + ", ".join(f"{k} {v:.2f} dB" for k, v in res.items()) + extra, flush=True)

    opt = torch.optim.AdamW(model.net.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 200) * (1 - 0.9 * i / args.iters))
    g = torch.Generator().manual_seed(args.seed)
    losses, start = [], time.time()
    for it in range(1, args.iters + 1):
        idx = torch.randint(0, len(train_lat), (args.batch_size,), generator=g)
        lat, act = train_lat[idx], train_action[idx]
        if args.regress:
            pred, m = regress(lat, act)
            loss = ((pred - lat) ** 2 * (1 - m)).mean()
        else:
            loss, _ = model.training_step({"latent": lat, "action": act}, it)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if it % args.eval_every == 0 or it == args.iters:
            print(f"iter {it}: loss {np.mean(losses[-args.eval_every:]):.4f}, "
                  f"{(time.time() - start) / it * 1000:.0f} ms/iter")
            evaluate(it)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
