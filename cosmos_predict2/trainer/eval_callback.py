"""Training-time rollout evaluation: every N iterations, roll out a few validation episodes with the EMA
weights and log PSNR / SSIM / latent L2 and the action sensitivity (:func:`cosmos_predict2.evaluation.evaluate`).

Config (a ``trainer.callbacks`` entry)::

    rollout_eval=L("cosmos_predict2.trainer.eval_callback.RolloutEvalCallback")(every_n=500, num_episodes=2)

Outputs under ``<job>/rollout_eval/``: ``metrics.jsonl`` (one line per evaluation) and per evaluation
``iter_<N>/`` with the report files and ``preview_<episode>.mp4`` (ground truth left, rollout right).
Every rank runs the rollouts (a sharded EMA net needs all ranks in its forward passes; same episodes and
seeds everywhere); only rank 0 writes files and logs.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Optional, Sequence

from cosmos_predict2.trainer.callbacks import Callback
from cosmos_predict2.utils import distributed as du

log = logging.getLogger(__name__)

__all__ = ["RolloutEvalCallback", "EMAModelView", "flatten_summary"]


class EMAModelView:
    """The world model seen through its EMA net: ``net`` is ``net_ema`` and ``generate`` uses it; everything
    else (tokenizer, decode, conditioner, ...) is the model's own."""

    def __init__(self, model: Any):
        self._model = model

    @property
    def net(self):
        return self._model.net_ema

    def generate(self, batch, **kwargs):
        return self._model.generate(batch, use_ema=True, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._model, name)


def flatten_summary(summary: dict, prefix: str = "rollout_eval") -> dict[str, float]:
    """``{"rollout_eval/<protocol>/<method>/<metric>": value}`` for the headline numbers (None when undefined)."""
    flat: dict[str, Any] = {}
    for protocol, by_method in summary["protocols"].items():
        for method, r in by_method.items():
            if not isinstance(r, dict):
                continue
            for key in ("psnr", "dynamic_psnr", "ssim", "latent_l2", "lpips", "fvd", "action_sensitivity"):
                if key in r:
                    flat[f"{prefix}/{protocol}/{method}/{key}"] = r[key]
    return flat


def _dataset_dir_from_config(config: Any) -> Optional[str]:
    for name in ("dataloader_val", "dataloader_train"):
        loader = getattr(config, name, None)
        try:
            ds = loader["dataset"] if loader is not None and "dataset" in loader else None
        except TypeError:
            ds = getattr(loader, "dataset", None)
        for key in ("dataset_dir", "root"):  # Bridge / LeRobot datasets
            if ds is not None and key in ds and ds[key]:
                return str(ds[key])
    return None


class RolloutEvalCallback(Callback):
    """Roll out ``num_episodes`` episodes of ``split`` every ``every_n`` iterations (see the module doc).

    ``dataset_dir`` defaults to the experiment's ``dataloader_val.dataset.dataset_dir`` (LeRobot: ``root``).
    ``protocols``:
    "long" (whole episode, chunked autoregressive) and/or "short" (one chunk). ``methods`` default to the
    model, the shuffled-actions guard and the copy-last-frame baseline. ``max_frames`` caps episode length
    (cost control). ``use_ema`` falls back to the live net when the model has no EMA copy.
    """

    def __init__(self, every_n: int = 500, num_episodes: int = 2, dataset_dir: Optional[str] = None,
                 split: str = "val", num_steps: Optional[int] = 10, guidance: Optional[float] = None,
                 seed: int = 0, chunk_size: int = 12, protocols: Sequence[str] = ("long",),
                 methods: Sequence[str] = ("model", "shuffled_actions", "copy_last_frame"),
                 max_frames: Optional[int] = None, write_video: bool = True, use_ema: bool = True,
                 run_at_end: bool = True, output_subdir: str = "rollout_eval") -> None:
        if every_n < 1:
            raise ValueError(f"RolloutEvalCallback: every_n must be >= 1, got {every_n}")
        self.every_n, self.num_episodes = int(every_n), int(num_episodes)
        self.dataset_dir, self.split = dataset_dir, split
        self.num_steps, self.guidance, self.seed, self.chunk_size = num_steps, guidance, seed, chunk_size
        self.protocols, self.methods = tuple(protocols), tuple(methods)
        self.max_frames, self.write_video, self.use_ema = max_frames, write_video, use_ema
        self.run_at_end, self.output_subdir = run_at_end, output_subdir
        self.episodes: list = []
        self.history: list[dict] = []
        self.last_iteration: Optional[int] = None
        self._fps: Optional[int] = None

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer) -> None:
        from cosmos_predict2.evaluation.episodes import EvalEpisode, load_episodes
        from cosmos_predict2.inference.experiment_info import action_normalization, action_settings, fps

        dataset_dir = self.dataset_dir or _dataset_dir_from_config(trainer.config)
        if not dataset_dir:
            raise ValueError("RolloutEvalCallback: no dataset_dir given and the config has no "
                             "dataloader_val.dataset.dataset_dir; pass dataset_dir=...")
        episodes = load_episodes(dataset_dir, self.split, max_episodes=self.num_episodes,
                                 settings=action_settings(trainer.config),
                                 normalization=action_normalization(trainer.config))
        if self.max_frames:
            episodes = [EvalEpisode(e.key, e.frames[: self.max_frames], e.actions[: self.max_frames - 1])
                        for e in episodes]
        self.episodes = episodes
        self._fps = fps(trainer.config)
        if du.is_rank0():
            log.info("rollout eval: %d %s episodes from %s every %d iterations", len(episodes), self.split,
                     dataset_dir, self.every_n)

    def on_training_step_end(self, trainer, iteration: int, metrics: dict) -> None:
        if iteration % self.every_n == 0:
            self.run(trainer, iteration)

    def on_train_end(self, trainer, iteration: int) -> None:
        if self.run_at_end and self.episodes and self.last_iteration != iteration and iteration > 0:
            self.run(trainer, iteration)

    # ------------------------------------------------------------------ evaluation
    def _view(self, model: Any) -> Any:
        if self.use_ema and getattr(model, "net_ema", None) is not None:
            return EMAModelView(model)
        return model

    def run(self, trainer, iteration: int) -> dict:
        """Evaluate now; returns (and on rank 0 logs / writes) the flat metrics dict."""
        from cosmos_predict2.evaluation.evaluate import evaluate, evaluation_rollout

        if not self.episodes:
            self.on_train_start(trainer)
        model = trainer.model
        rank0 = du.is_rank0()
        out_dir = os.path.join(trainer.job_dir, self.output_subdir, f"iter_{iteration:09d}") if rank0 else None
        was_training = model.training
        model.eval()
        try:
            summary, rec = evaluate(
                self._view(model), self.episodes, protocols=self.protocols, methods=self.methods,
                chunk_size=self.chunk_size, num_steps=self.num_steps, guidance=self.guidance, seed=self.seed,
                rollout_fn=evaluation_rollout(fps=self._fps), output_dir=out_dir,
                num_preview_episodes=len(self.episodes) if rank0 else 0, progress=False, print_table=False,
                meta={"iteration": iteration, "weights": "ema" if self._view(model) is not model else "net"},
                return_records=True,
            )
        finally:
            if was_training:
                model.train()
        flat = flatten_summary(summary)
        flat["iteration"] = iteration
        self.history.append(flat)
        self.last_iteration = iteration
        if rank0:
            os.makedirs(os.path.dirname(out_dir), exist_ok=True)
            with open(os.path.join(os.path.dirname(out_dir), "metrics.jsonl"), "a") as f:
                f.write(json.dumps(flat) + "\n")
            if self.write_video:
                self._write_previews(out_dir, rec.previews)
            log.info("rollout eval at iter %d: %s", iteration,
                     {k.split("/", 1)[1]: round(v, 4) for k, v in flat.items() if isinstance(v, float)})
        return flat

    def _write_previews(self, out_dir: str, previews: dict) -> None:
        """``preview_<protocol>_<episode>.mp4``: ground truth left, the model's rollout right."""
        from cosmos_predict2.data.video_io import write_video
        from cosmos_predict2.evaluation.report import preview_strip, safe_name

        for protocol, by_episode in previews.items():
            for key, p in by_episode.items():
                if "model" in p:
                    write_video(os.path.join(out_dir, f"preview_{protocol}_{safe_name(key)}.mp4"),
                                preview_strip(p["gt"], p["model"]), fps=self._fps, threads=1)
