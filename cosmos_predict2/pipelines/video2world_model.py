"""Video2World world model: DiT + frozen tokenizer + conditioner + diffusion objective (+ power EMA).

Built from the uninstantiated ``model.config`` node (cosmos_predict2/configs/base/defaults/model.py), read as the
typed :class:`~cosmos_predict2.pipelines.model_config.Video2WorldConfig` (``self.config``): every component is
created with ``cosmos_predict2.lazy_config.instantiate``, so the formulation (Predict2 / Predict2.5 / Predict1) is
chosen entirely by the config. The module's ``state_dict`` holds only trainable state: ``net.*``,
``net_ema.*`` (when EMA is on) and ``logvar.*`` (Predict1 objective); the tokenizer is frozen, kept out
of the state dict and out of ``parameters()`` (it still follows ``.to()``/``.cuda()``).

Order at construction: net -> LoRA -> EMA copy. With ``init_device="meta"`` (the trainer and the inference
builder) the nets are built without memory; parallelism is applied from outside, then each rank allocates its
shards and fills them (``parallel/materialize.py``) or loads weights into them (``checkpoint/weights.py``,
which reads ``model_manager_config.dit_path``). The model itself never reads weight files.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any, Callable, Mapping, Optional

import torch
from torch import nn

from cosmos_predict2.diffusion.conditioner import VideoCondition
from cosmos_predict2.lazy_config.errors import ConfigError
from cosmos_predict2.models.ema import PowerEMA
from cosmos_predict2.models.lora import LORA_CONFIG_KEYS, inject_lora
from cosmos_predict2.pipelines.model_config import Video2WorldConfig

log = logging.getLogger(__name__)

__all__ = ["Video2WorldModel"]

_PRECISIONS = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}


def _instantiate(node: Any) -> Any:
    from cosmos_predict2.lazy_config import instantiate

    return instantiate(node)


class Video2WorldModel(nn.Module):
    """The trainable world model. See the module docstring for what it holds.

    ``init_device``: device the nets (``net``, LoRA adapters, ``net_ema``) are built on; ``"meta"`` allocates
    nothing (tokenizer, conditioner and objective are always built for real)."""

    def __init__(self, config: Any, init_device: Optional[str] = None):
        super().__init__()
        self.config = cfg = Video2WorldConfig.from_node(config)
        for key in ("net", "tokenizer", "conditioner", "objective"):
            if getattr(cfg, key) is None:
                raise ConfigError(f"Video2WorldModel: model.config.{key} is missing; see the `model` node in "
                                  "cosmos_predict2/configs/base/defaults/model.py.")
        self.precision = cfg.precision
        if self.precision not in _PRECISIONS:
            raise ConfigError(f"model.config.precision={self.precision!r}; use one of {sorted(_PRECISIONS)}.")
        self.state_t = cfg.state_t
        self.state_ch = cfg.state_ch
        self.min_num_conditional_frames = cfg.min_num_conditional_frames
        self.max_num_conditional_frames = cfg.max_num_conditional_frames
        probs = cfg.conditional_frames_probs
        self.conditional_frames_probs = {int(k): float(v) for k, v in probs.items()} if probs else None
        self.input_video_key, self.input_latent_key = cfg.input_video_key, cfg.input_latent_key
        self.text_encoder_kind = cfg.text_encoder.kind
        self.text_embed_dim = cfg.text_encoder.embed_dim
        self.text_compute_online = cfg.text_encoder.compute_online and self.text_encoder_kind != "none"
        self._told_online_text = False

        nets_on = torch.device(init_device) if init_device is not None else contextlib.nullcontext()
        with nets_on:
            self.net = _instantiate(cfg.net)
        object.__setattr__(self, "_tokenizer", _instantiate(cfg.tokenizer))
        if isinstance(self._tokenizer, nn.Module):
            self._tokenizer.eval().requires_grad_(False)
        self.conditioner = _instantiate(cfg.conditioner)
        self.condition_augment = _instantiate(cfg.condition_augment) if cfg.condition_augment is not None else None
        self.objective = _instantiate(cfg.objective)
        for name, module in self.objective.trainable_modules().items():
            self.add_module(name, module)  # e.g. `logvar` of the Predict1 objective
        self.sampler = _instantiate(cfg.sampler) if cfg.sampler is not None else None
        self._check_sampler(self.sampler)

        if cfg.train_architecture == "lora":
            names = inject_lora(self.net, **{arg: getattr(cfg, key) for arg, key in LORA_CONFIG_KEYS.items()})
            log.info("%s injected into %d linear layers", "DoRA" if cfg.use_dora else "LoRA", len(names))
        elif cfg.train_architecture != "base":
            raise ConfigError(f"model.config.train_architecture={cfg.train_architecture!r}; use 'base' or 'lora'.")

        self.ema: Optional[PowerEMA] = None
        if cfg.ema.enabled:
            self.ema = PowerEMA(rate=cfg.ema.rate, iteration_shift=cfg.ema.iteration_shift)
            self.net_ema = copy.deepcopy(self.net).float().eval().requires_grad_(False)

    # ------------------------------------------------------------------ properties / plumbing
    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def precision_dtype(self) -> torch.dtype:
        """Training compute dtype requested by ``model.config.precision`` (applied by the trainer/FSDP)."""
        return _PRECISIONS[self.precision]

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        if isinstance(self._tokenizer, nn.Module):
            self._tokenizer._apply(fn)
        return self

    def _check_sampler(self, sampler) -> None:
        expects = getattr(sampler, "prediction", None)
        if sampler is not None and expects is not None and expects != self.objective.prediction:
            raise ValueError(
                f"model.config.sampler {type(sampler).__name__} integrates {expects!r} predictions but the objective "
                f"{type(self.objective).__name__} produces {self.objective.prediction!r}; pair RectifiedFlowObjective "
                "with FlowUniPCSampler and the sigma-domain objectives with RectifiedFlowAB2Sampler / EDMSampler."
            )

    def forward(self, batch: Mapping[str, Any], iteration: int = 0):
        """Same as ``training_step``. The trainer calls ``training_step`` itself; FSDP2 wraps the nets, not this
        module, so their hooks run on the nets' own forward."""
        return self.training_step(batch, iteration)

    # ------------------------------------------------------------------ data -> latents / condition
    @torch.no_grad()
    def encode(self, video_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """uint8 [0,255] or float [-1,1] video -> float32 latents."""
        if video_B_C_T_H_W.dtype == torch.uint8:
            video_B_C_T_H_W = video_B_C_T_H_W.float() / 127.5 - 1.0
        return self._tokenizer.encode(video_B_C_T_H_W).float()

    @torch.no_grad()
    def decode(self, latent_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        """Latents -> video in [-1, 1]."""
        return self._tokenizer.decode(latent_B_C_T_H_W)

    def get_latents(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Cached ``latent`` when present, else the encoded ``video``; checks channels and ``state_t``."""
        if self.input_latent_key in batch and batch[self.input_latent_key] is not None:
            x0 = batch[self.input_latent_key].float()
        elif self.input_video_key in batch:
            x0 = self.encode(batch[self.input_video_key])
        else:
            raise ValueError(
                f"Video2WorldModel: batch has neither {self.input_latent_key!r} nor {self.input_video_key!r} "
                f"(keys: {sorted(batch)}); check model.config.input_video_key / input_latent_key and the dataset."
            )
        if x0.ndim != 5 or x0.shape[1] != self.state_ch:
            raise ValueError(f"Video2WorldModel: latents must be (B,{self.state_ch},T,H,W), got {tuple(x0.shape)}.")
        if self.state_t is not None and x0.shape[2] != int(self.state_t):
            raise ValueError(
                f"Video2WorldModel: batch has {x0.shape[2]} latent frames but model.config.state_t={self.state_t}; "
                "set num_video_frames so that 1 + (frames-1)//4 == state_t (or fix the dataset's num_frames)."
            )
        return x0

    def _with_text(self, batch: Mapping[str, Any], B: int, device) -> Mapping[str, Any]:
        """With ``text_encoder.kind == 'none'`` a missing text embedding becomes zeros (1 token).

        ``text_encoder.compute_online`` (Predict2.5: Reason1.1 embeddings computed in the forward pass, replacing
        whatever the data carries): the action data's captions are empty, and the empty caption is encoded as
        the zero embedding (B, 512, embed_dim) here; upstream runs Reason1.1-7B on the empty string instead.
        A non-empty caption is refused (precompute its embeddings and set compute_online=False)."""
        key = getattr(self.conditioner, "text_key", "t5_text_embeddings")
        if self.text_compute_online:
            captions = batch.get("ai_caption", "")
            captions = [captions] if isinstance(captions, str) else list(captions)
            if any(str(c).strip() for c in captions):
                raise ValueError(
                    f"model.config.text_encoder.compute_online=True ({self.text_encoder_kind}) is only supported for "
                    f"empty captions (the action datasets); got {str(captions[0])[:60]!r}. Precompute the embeddings "
                    "(scripts/get_t5_embeddings.py) and set model.config.text_encoder.compute_online=False.")
            if not self._told_online_text:
                log.info("text_encoder.compute_online: empty captions -> zero text embedding (B, 512, %d)",
                         self.text_embed_dim)
                self._told_online_text = True
            dtype = _PRECISIONS.get(self.precision, torch.float32)
            return {**batch, key: torch.zeros(B, 512, self.text_embed_dim, device=device, dtype=dtype)}
        if key in batch or self.text_encoder_kind != "none":
            return batch
        return {**batch, key: torch.zeros(B, 1, self.text_embed_dim, device=device)}

    def build_condition(self, batch: Mapping[str, Any], x0: torch.Tensor, training: bool = True,
                        generator: Optional[torch.Generator] = None) -> VideoCondition:
        return self.conditioner(
            self._with_text(batch, x0.shape[0], x0.device), x0,
            min_num_conditional_frames=self.min_num_conditional_frames,
            max_num_conditional_frames=self.max_num_conditional_frames,
            conditional_frames_probs=self.conditional_frames_probs, training=training, generator=generator,
        )

    @staticmethod
    def _param_dtype(net: nn.Module) -> torch.dtype:
        for p in net.parameters():
            return p.dtype
        return torch.float32

    def net_fn(self, net: nn.Module, condition: VideoCondition, H: int, W: int) -> Callable:
        """``(x_in_B_C_T_H_W, timesteps_B_T) -> out`` closing over the condition (what objectives call)."""
        dtype = self._param_dtype(net)
        kwargs = condition.net_kwargs(H, W, dtype)

        def fn(x: torch.Tensor, timesteps_B_T: torch.Tensor) -> torch.Tensor:
            return net(x.to(dtype), timesteps_B_T.to(dtype), **kwargs)

        return fn

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Mapping[str, Any], iteration: int = 0, generator: Optional[torch.Generator] = None,
                      augment: bool = True):
        """Loss for one batch. Returns ``(loss, outputs)``; outputs are detached tensors for logging.

        Randomness (conditioning-frame count, dropout, noise level, noise, conditioning augmentation) comes
        from ``generator`` or the global torch RNG: ranks of one context-parallel group must draw identically
        (seed by dp rank). ``augment=False`` skips ``model.config.condition_augment`` (validation)."""
        x0 = self.get_latents(batch)
        condition = self.build_condition(batch, x0, training=True, generator=generator)
        if augment and self.condition_augment is not None and condition.gt_latent_B_C_T_H_W is not None:
            condition = condition.replace(gt_latent_B_C_T_H_W=self.condition_augment(
                condition.gt_latent_B_C_T_H_W, condition.condition_mask_B_1_T_1_1, generator))
        fn = self.net_fn(self.net, condition, x0.shape[-2], x0.shape[-1])
        loss, out = self.objective.training_loss(
            fn, x0, condition.condition_mask_B_1_T_1_1, generator=generator,
            condition_state_B_C_T_H_W=condition.condition_state_B_C_T_H_W,
        )
        outputs = {k: v.detach() for k, v in out.items() if isinstance(v, torch.Tensor)}
        outputs["num_conditional_frames"] = condition.num_conditional_frames_B
        outputs["loss"] = loss.detach()
        return loss, outputs

    @torch.no_grad()
    def validation_step(self, batch: Mapping[str, Any], iteration: int = 0, generator: Optional[torch.Generator] = None):
        return self.training_step(batch, iteration, generator, augment=False)

    @torch.no_grad()
    def ema_update(self, iteration: int) -> Optional[float]:
        """Power-EMA step (call after ``optimizer.step()``); returns beta, or None without EMA."""
        if self.ema is None:
            return None
        return self.ema.update(self.net_ema, self.net, iteration)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def generate(
        self,
        batch: Mapping[str, Any],
        *,
        num_steps: Optional[int] = None,
        guidance: Optional[float] = None,
        seed: int = 0,
        num_conditional_frames: int = 1,
        negative_text_embeddings: Optional[torch.Tensor] = None,
        use_ema: bool = False,
        sampler: Any = None,
    ) -> torch.Tensor:
        """Sample latents conditioned on the batch's first ``num_conditional_frames`` latent frames.

        ``guidance`` g uses ``cond + g*(cond - uncond)``; g == 0 calls the net once per step.
        """
        sampler = sampler if sampler is not None else self.sampler
        if sampler is None:
            raise ValueError("Video2WorldModel.generate: no sampler; set model.config.sampler or pass sampler=.")
        self._check_sampler(sampler)
        net = self.net_ema if use_ema and hasattr(self, "net_ema") else self.net
        x_gt = self.get_latents(batch)
        batch = self._with_text(batch, x_gt.shape[0], x_gt.device)
        cond, uncond = self.conditioner.for_inference(batch, x_gt, num_conditional_frames, negative_text_embeddings)
        H, W = x_gt.shape[-2:]
        noise, extra = None, {}
        if float(getattr(self.objective, "inference_augment_sigma", 0.0) or 0.0) > 0 and hasattr(sampler, "initial_noise"):
            # Predict1: conditioning frames get augmentation noise sigma_aug * n at every step (EDMObjective.denoise);
            # n is the unit noise the sampler starts from, as upstream draws both with arch_invariant_rand(shape,
            # seed); the same n for the conditional and the unconditional branch
            noise = sampler.initial_noise(x_gt.shape, seed=seed, device=x_gt.device)
            extra["augment_noise"] = noise.to(x_gt.dtype)

        def denoiser(c: VideoCondition):
            fn = self.net_fn(net, c, H, W)
            return lambda x, s: self.objective.denoise(fn, x, s, c.condition_mask_B_1_T_1_1,
                                                       c.condition_state_B_C_T_H_W, **extra)

        g = getattr(sampler, "guidance", 0.0) if guidance is None else guidance
        return sampler.sample(
            denoiser(cond), x_gt.shape, uncond_fn=denoiser(uncond) if g != 0 else None, guidance=g,
            num_steps=num_steps, seed=seed, device=x_gt.device, noise=noise,
            condition_mask_B_1_T_1_1=cond.condition_mask_B_1_T_1_1, gt_B_C_T_H_W=cond.condition_state_B_C_T_H_W,
        ).float()
