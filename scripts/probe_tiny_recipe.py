"""Fast recipe probe: train an experiment's model on cached latents and watch short-protocol PSNR.

Loads every training window of a Bridge-layout split into memory once, encoded with the experiment's model
(:class:`LatentWindows`), then trains through the normal build (``trainer.launch.build``: the experiment's
optimizer, scheduler, callbacks such as gradient clipping, and :class:`~cosmos_predict2.trainer.trainer.Trainer`;
no checkpoints, no validation loader, the LR schedule's cycle set to ``--iters``) and every ``--eval-every``
iterations samples the validation windows (1 conditioning frame + 12 actions) with the true actions and
with the previous window's actions ("rolled"). Prints PSNR (frame 0 excluded) next to copy-the-first-frame and the
tokenizer's own round trip, so a recipe change can be judged in minutes instead of a full training run.
Training runs in float32 unless ``model.config.precision`` is overridden; the job folder (config.yaml, memory
plan) is ``<output root>/<project>/<group>/probe``.

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
from typing import Any

import numpy as np
import torch
from omegaconf import open_dict
from torch.utils.data import Dataset
from tqdm import tqdm

from cosmos_predict2.configs.compose import compose_config
from cosmos_predict2.evaluation.metrics import capped_mean_psnr, psnr_per_frame
from cosmos_predict2.lazy_config import L, instantiate
from cosmos_predict2.trainer.callbacks import Callback

# callbacks that only report (this probe reports itself); the others (e.g. gradient clipping) stay
REPORTING_CALLBACKS = ("progress", "metrics", "wandb", "rollout_eval", "action_monitor")


class LatentWindows(Dataset):
    """Every sample of ``dataset``, read once and kept in memory with its video encoded by ``encoder`` (the
    experiment's model): the loader's sample dict with ``latent`` (C, t, h, w) in place of ``video``."""

    def __init__(self, dataset: Dataset, encoder: Any, encode_batch: int = 256) -> None:
        self.samples = [dict(dataset[i]) for i in tqdm(range(len(dataset)), desc="load train", leave=False)]
        videos = torch.stack([s.pop("video") for s in self.samples])
        latents = torch.cat([encoder.encode(videos[i:i + encode_batch]) for i in range(0, len(videos), encode_batch)])
        for sample, latent in zip(self.samples, latents):
            sample["latent"] = latent

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return dict(self.samples[int(index)])


def _windows(dataset_node, mode: str, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, T, H, W) uint8 videos and (N, T-1, 7) actions of every ``stride``-th window of ``mode``."""
    ds = instantiate(dataset_node, mode=mode)
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


def probe_config(args: argparse.Namespace):
    """The experiment's config with the probe's settings; ``dataloader_train`` reads :class:`LatentWindows`."""
    overrides = [f"experiment={args.experiment}", "model.config.precision=float32", "ckpt_type=dummy", "job.name=probe",
                 f"trainer.max_iter={args.iters}", f"trainer.seed={args.seed}", f"trainer.logging_iter={args.eval_every}",
                 "trainer.run_validation=False", "trainer.progress_bar=False", f"optimizer.lr={args.lr}",
                 f"dataloader_train.batch_size={args.batch_size}", "dataloader_train.num_workers=0",
                 f"dataloader_train.dataset.dataset_dir={args.data}", *args.overrides]
    cfg = compose_config(overrides=overrides)
    if "cycle_lengths" in (cfg.scheduler or {}) and not any(o.startswith("scheduler.cycle_lengths=") for o in args.overrides):
        cfg.scheduler.cycle_lengths = [args.iters]
    with open_dict(cfg.trainer.callbacks):
        for name in REPORTING_CALLBACKS:
            cfg.trainer.callbacks.pop(name, None)
    encoder = cfg.model.copy()
    with open_dict(encoder):
        encoder.init_device = "meta"  # the experiment's model for its ``encode``; its nets allocate nothing
    cfg.dataloader_train.dataset = L(LatentWindows)(dataset=cfg.dataloader_train.dataset, encoder=encoder)
    return cfg


class ProbeReport(Callback):
    """Every ``every`` iterations and at the last one: the mean loss, the time per iteration and ``evaluate(it)``
    (``trainer.logging_iter`` is ``every``: the trainer's loss history is reduced up to those iterations)."""

    def __init__(self, every: int, last: int, evaluate) -> None:
        self.every, self.last, self.evaluate = every, last, evaluate
        self.start = time.time()

    def on_train_start(self, trainer) -> None:
        self.start = time.time()

    def on_training_step_end(self, trainer, iteration: int, metrics: dict) -> None:
        if iteration % self.every and iteration != self.last:
            return
        print(f"iter {iteration}: loss {np.mean(trainer.loss_history[-self.every:]):.4f}, "
              f"{(time.time() - self.start) / iteration * 1000:.0f} ms/iter")
        self.evaluate(iteration)


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
    from cosmos_predict2.trainer.launch import build
    from cosmos_predict2.utils.distributed import destroy_distributed

    cfg = probe_config(args)
    try:
        trainer = build(cfg)
        _probe(args, cfg, trainer)
    finally:
        destroy_distributed()
    return 0


def _probe(args: argparse.Namespace, cfg, trainer) -> None:
    """Report the baselines, then train with ``trainer`` and evaluate every ``--eval-every`` iterations."""
    model = trainer.model
    print(f"net: {sum(q.numel() for q in model.net.parameters()) / 1e6:.2f} M parameters")
    val_video, val_action = _windows(cfg.dataloader_train.dataset.dataset, "val", args.val_stride)
    val_lat = model.encode(val_video)
    gt = val_video.float() / 127.5 - 1
    print(f"{len(trainer.dataloader_train.dataset)} training windows, {len(val_lat)} validation windows; PSNR "
          f"copy-first-frame {psnr_excluding_first(gt[:, :, :1].expand_as(gt), gt):.2f} dB, tokenizer round trip "
          f"{psnr_excluding_first(model.decode(val_lat).clamp(-1, 1), gt):.2f} dB")

    def regress(batch):  # net input: the conditioning frame, zeros elsewhere, timestep 1 on predicted frames
        lat = batch["latent"]
        cond = model.build_condition(batch, lat, training=False)
        m = cond.condition_mask_B_1_T_1_1
        t_B_T = (1 - m[:, 0, :, 0, 0]).expand(lat.shape[0], lat.shape[2])
        out = model.net_fn(model.net, cond, lat.shape[-2], lat.shape[-1])(lat * m, t_B_T)
        return lat * m + out * (1 - m), m

    def regress_training_step(batch, iteration: int = 0):
        pred, m = regress(batch)
        loss = ((pred - batch["latent"]) ** 2 * (1 - m)).mean()
        return loss, {"loss": loss.detach()}

    if args.regress:
        model.training_step = regress_training_step  # the trainer's step, as a plain regression

    long_episodes = []
    if args.long_episodes > 0:
        from cosmos_predict2.evaluation.episodes import load_episodes
        from cosmos_predict2.inference.experiment_info import action_settings

        long_episodes = load_episodes(args.data, "val", max_episodes=args.long_episodes,
                                      settings=action_settings(cfg))

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
        for name, act in (("true actions", val_action), ("rolled actions", val_action.roll(1, 0))):
            out = []
            for i in range(0, len(val_lat), 16):
                lat, a = val_lat[i:i + 16], act[i:i + 16]
                z = regress({"latent": lat, "action": a})[0] if args.regress else model.generate(
                    {"latent": lat, "action": a}, num_steps=args.num_steps, seed=1)
                out.append(model.decode(z).clamp(-1, 1))
            res[name] = psnr_excluding_first(torch.cat(out), gt)
        extra = evaluate_long() if long_episodes else ""
        model.train()
        print(f"iter {it}: PSNR " + ", ".join(f"{k} {v:.2f} dB" for k, v in res.items()) + extra, flush=True)

    trainer.callbacks.append(ProbeReport(args.eval_every, args.iters, evaluate))
    trainer.train()


if __name__ == "__main__":
    raise SystemExit(main())
