"""Cached latents whose future frames follow from the first frame and the actions, and the tiny action-conditioned
recipe (float32) reading them: a model trained on them learns to use its actions within a few dozen steps."""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from cosmos_predict2.lazy_config import L

T_LAT, HW, CH, NUM_ACTIONS, ACTION_DIM = 4, 4, 64, 12, 7  # the tiny recipe: 4 latent frames, 4 actions per frame


class ActionLatents(Dataset):
    """Sample i: latents (64, 4, 4, 4) whose frame k >= 1 is frame 0 plus ``U @ (sum of the actions up to the end
    of chunk k)`` in every cell, and its 12 x 7 actions; ``__key__`` ``ep<i>`` (one episode per sample, or
    ``episodes`` episodes round robin)."""

    def __init__(self, n: int = 64, seed: int = 0, episodes: int = 0):
        self.n, self.seed, self.episodes = n, seed, episodes
        self.U = torch.randn(CH, ACTION_DIM, generator=torch.Generator().manual_seed(123)) / math.sqrt(ACTION_DIM)

    def __len__(self) -> int:
        return self.n

    def sample_key(self, index: int) -> str:
        return f"ep{index % self.episodes if self.episodes else index}"

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 100_000 + index)
        first_C_1_H_W = torch.randn(CH, 1, HW, HW, generator=g)
        action_N_A = torch.randn(NUM_ACTIONS, ACTION_DIM, generator=g) * 0.5
        running_3_A = action_N_A.reshape(T_LAT - 1, NUM_ACTIONS // (T_LAT - 1), ACTION_DIM).sum(1).cumsum(0)
        offsets_T_C = torch.cat([torch.zeros(1, CH), running_3_A @ self.U.T])
        return {"latent": first_C_1_H_W + offsets_T_C.T[:, :, None, None], "action": action_N_A, "fps": 4,
                "padding_mask": torch.zeros(1, HW * 8, HW * 8), "__key__": self.sample_key(index)}


def tiny_action_config(max_iter: int, every_n: int = 10, warn_after: int = 0, batch_size: int = 8):
    """The tiny action-conditioned recipe (float32, no EMA, no conditioning-frame blur) training on 64
    :class:`ActionLatents` samples; the monitor's batch comes from 16 held-out ones (``dataloader_val``, which
    the run never validates on). The job folder is under ``$IMAGINAIRE_OUTPUT_ROOT``."""
    from cosmos_predict2.configs.base.config import make_config
    from cosmos_predict2.configs.compose import apply_overrides

    cfg = apply_overrides(make_config(), [
        "experiment=tiny_action_conditioned_bridge", "job.name=monitor", f"trainer.max_iter={max_iter}",
        "ckpt_type=dummy", "model.config.precision=float32", "model.config.condition_augment=null",
        "model.config.ema.enabled=False", "~trainer.callbacks.rollout_eval", "trainer.logging_iter=10",
        "trainer.progress_bar=False", "trainer.run_validation=True", "trainer.validation_iter=1000000",
        "scheduler.warm_up_steps=[1]", f"scheduler.cycle_lengths=[{max_iter}]", "scheduler.f_min=[1.0]",
        f"trainer.callbacks.action_monitor.every_n={every_n}",
        f"trainer.callbacks.action_monitor.warn_after={warn_after}", "trainer.callbacks.action_monitor.batch_size=8"])
    loader = L("cosmos_predict2.data.loader.build_dataloader")
    cfg.dataloader_train = loader(dataset=L(ActionLatents)(n=64, seed=0), batch_size=batch_size, num_workers=0)
    cfg.dataloader_val = loader(dataset=L(ActionLatents)(n=16, seed=1), batch_size=batch_size, num_workers=0)
    return cfg
