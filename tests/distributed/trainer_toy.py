"""A deterministic model + dataset for trainer tests: the real tiny DiT regressing fixed targets.

The loss of a batch depends only on the batch (no noise), so a run on N ranks with per-rank batch b and
a run on one rank with batch N*b see the same global batch and give the same loss sequence.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn
from torch.utils.data import Dataset

from cosmos_predict2.configs.schema import CheckpointConfig, Config, JobConfig, ModelParallelConfig, TrainerConfig
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.skipping import SkippingDataset
from cosmos_predict2.lazy_config import PLACEHOLDER, L, instantiate
from cosmos_predict2.models.ema import PowerEMA

T_LAT, HW, CTX = 2, 16, 8  # latent frames, latent grid (16x16 -> 8x8 tokens), text tokens


def tiny_net_config(model_channels: int = 32, num_blocks: int = 2, num_heads: int = 2):
    from cosmos_predict2.models.presets import net_kwargs

    return L("cosmos_predict2.models.dit.MiniTrainDIT")(**net_kwargs(
        "tiny", model_channels=model_channels, num_blocks=num_blocks, num_heads=num_heads, adaln_lora_dim=8,
        crossattn_emb_channels=16, concat_padding_mask=False))


class ToyDataset(Dataset):
    """Sample i: latent x (16, T, 16, 16), timesteps, text context, target; all a function of i."""

    def __init__(self, n: int = 16, nan_index: int = -1):
        self.n, self.nan_index = n, nan_index

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(1000 + i)
        x = torch.randn(16, T_LAT, HW, HW, generator=g)
        target = torch.randn(16, T_LAT, HW, HW, generator=g) * 0.5
        if i == self.nan_index:
            target[0, 0, 0, 0] = float("nan")
        return {"latent": x, "target": target, "t": torch.rand(T_LAT, generator=g),
                "ctx": torch.randn(CTX, 16, generator=g), "__key__": f"sample_{i:03d}"}


class ToyBadDataset(SkippingDataset):
    """:class:`ToyDataset` whose samples in ``bad`` fail to load with a DataError naming ``<root>/bad_<i>.mp4``."""

    def __init__(self, n: int = 16, bad: tuple = (), on_bad_sample: str = "error",
                 max_bad_sample_fraction: float = 0.01, root: str = "/toy"):
        self._init_skip(on_bad_sample, max_bad_sample_fraction)
        self.good, self.bad, self.root = ToyDataset(n), {int(i) for i in bad}, root

    def __len__(self) -> int:
        return len(self.good)

    def sample_key(self, index: int) -> str:
        return f"sample_{index:03d}"

    def _load(self, index: int) -> dict:
        if index in self.bad:
            raise DataError(f"{self.root}/bad_{index}.mp4", "cannot decode video (toy)", "re-encode or remove the file")
        return self.good[index]


class ToyModel(nn.Module):
    """``net`` + ``net_ema`` (power EMA) with a deterministic MSE ``training_step``."""

    def __init__(self, config, init_device=None):
        super().__init__()
        self.config = config
        with torch.device(init_device) if init_device else contextlib.nullcontext():
            self.net = instantiate(config["net"])
        self.ema = PowerEMA(rate=0.10) if config["ema"]["enabled"] else None
        if self.ema is not None:
            self.net_ema = copy.deepcopy(self.net).requires_grad_(False)

    def training_step(self, batch: dict, iteration: int = 0):
        out = self.net(batch["latent"], batch["t"], batch["ctx"])
        loss = ((out.float() - batch["target"]) ** 2).mean()
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def validation_step(self, batch: dict, iteration: int = 0):
        return self.training_step(batch, iteration)

    @torch.no_grad()
    def ema_update(self, iteration: int):
        return self.ema.update(self.net_ema, self.net, iteration) if self.ema is not None else None


def toy_config(job_root: str, name: str = "toy", batch_size: int = 2, fsdp_shard_size: int = -1, cp: int = 1,
               max_iter: int = 4, save_iter: int = 2, ckpt: str = "dcp", precision: str = "float32",
               activation_checkpointing: str = "none", grad_accum: int = 1, nan_index: int = -1,
               lr: float = 1e-3, keep_last_k: int = 0, load_path: str = "",
               load_training_state: bool = False, bad: tuple = (), on_bad_sample: str = "error",
               max_bad_sample_fraction: float = 0.01, async_save: bool = False) -> Config:
    """A :class:`Config` that ``cosmos_predict2.trainer.launch.build`` turns into a toy training run (with
    ``bad`` sample indices: on :class:`ToyBadDataset` and its ``on_bad_sample`` policy)."""
    # the launcher reads model.config through its typed schema (pipelines/model_config.py)
    model = L("trainer_toy.ToyModel")(config=dict(
        net=tiny_net_config(), fsdp_shard_size=fsdp_shard_size, precision=precision,
        activation_checkpointing=activation_checkpointing, ema=dict(enabled=True),
        text_encoder=dict(kind="none", embed_dim=16)), _recursive_=False)
    ck_target = {"dcp": "cosmos_predict2.checkpoint.dcp.DistributedCheckpointer",
                 "standard": "cosmos_predict2.checkpoint.standard.StandardCheckpointer",
                 "fsdp": "cosmos_predict2.checkpoint.predict1.Predict1Checkpointer",
                 "dummy": "cosmos_predict2.checkpoint.base.NoCheckpointer"}[ckpt]
    dataset = L("trainer_toy.ToyDataset")(n=16, nan_index=nan_index)
    if bad:
        dataset = L("trainer_toy.ToyBadDataset")(n=16, bad=list(bad), on_bad_sample=on_bad_sample,
                                                 max_bad_sample_fraction=max_bad_sample_fraction)
    loader = L("cosmos_predict2.data.loader.build_dataloader")(
        dataset=dataset, batch_size=batch_size, num_workers=0, shuffle=True, drop_last=True)
    return Config(
        model=model,
        optimizer=L("cosmos_predict2.trainer.optim.build_optimizer")(model=PLACEHOLDER, name="adamw", lr=lr,
                                                                     weight_decay=0.01, betas=[0.9, 0.99]),
        scheduler=L("cosmos_predict2.trainer.schedulers.build_lambda_linear")(
            optimizer=PLACEHOLDER, warm_up_steps=[2], cycle_lengths=[100], f_start=[0.1], f_max=[1.0], f_min=[0.5]),
        dataloader_train=loader,
        job=JobConfig(project="p", group="g", name=name),
        trainer=TrainerConfig(callbacks={"grad_clip": L("cosmos_predict2.trainer.callbacks.GradClip")(clip_norm=1.0),
                                         "metrics": L("cosmos_predict2.trainer.callbacks.MetricsLogger")()},
                              max_iter=max_iter, logging_iter=1, seed=0, grad_accum_iter=grad_accum,
                              progress_bar=False),
        checkpoint=CheckpointConfig(type=L(ck_target)(), save_iter=save_iter, keep_last_k=keep_last_k,
                                    load_path=load_path, load_training_state=load_training_state,
                                    dcp_async_mode_enabled=async_save),
        model_parallel=ModelParallelConfig(context_parallel_size=cp),
    )


def train_toy(job_root: str, **kwargs) -> list[float]:
    """Build with the real launcher and train; returns the per-iteration global losses of this run."""
    import os

    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = job_root
    from cosmos_predict2.trainer.launch import build

    trainer = build(toy_config(job_root, **kwargs))
    return trainer.train()
