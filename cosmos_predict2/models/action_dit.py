"""Action-conditioned DiTs: the base MiniTrainDIT plus two action MLPs.

All variants add `action_embedder_B_D` (Mlp(A -> hidden -> D)) to the timestep embedding *before* its
RMSNorm and `action_embedder_B_3D` (Mlp(A -> hidden -> 3D)) to the AdaLN-LoRA vector; `hidden` defaults
to 4D, GELU(tanh), biases, parameter names `fc1` / `fc2` as in the released action checkpoints. Every other
parameter is the base net's, so a base Video2World state dict loads with strict=False and reports
exactly the 8 action-embedder tensors as missing.

- ActionConditionedMinimalV1LVGDiT (P2 / P2.5-v1): the clip's (B, 12, 7) actions flattened to one 84-d
  vector, broadcast over all latent frames.
- ActionChunkConditionedMinimalV1LVGDiT (P2.5 shipped model): (B, 12, 7) -> (B, 3, 28), i.e. the 4
  actions of each latent frame (temporal_compression_ratio=4) embedded per frame; a zero embedding is
  prepended for latent frame 0 and the result is multiplied by (1 - condition mask) per frame.
  ``action_features="cumulative_fourier"`` (not in released nets) adds clip-relative cumulative poses and
  their Fourier features to every step (models/action_features.py).
- SingleActionConditionedDiT (P1 semantics on the P2 net): one 7-d action per sample.
"""

from __future__ import annotations

import torch

from cosmos_predict2.models.action_features import DEFAULT_FOURIER_PERIODS, action_step_features, features_per_step
from cosmos_predict2.models.dit import MiniTrainDIT
from cosmos_predict2.models.layers import Mlp


class _ActionDiTBase(MiniTrainDIT):
    """MiniTrainDIT + `action_embedder_B_D` / `action_embedder_B_3D` over `action_in_features` inputs."""

    def __init__(self, action_in_features: int, hidden_dim_in_action_embedder: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        dim = self.model_channels
        hidden = hidden_dim_in_action_embedder or 4 * dim
        self.action_in_features = action_in_features
        self.action_embedder_B_D = Mlp(action_in_features, hidden, dim)
        self.action_embedder_B_3D = Mlp(action_in_features, hidden, 3 * dim)

    def _embed(self, action_B_N_A: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        a = action_B_N_A.to(dtype)
        return self.action_embedder_B_D(a), self.action_embedder_B_3D(a)

    def _require_action(self, action: torch.Tensor | None) -> torch.Tensor:
        if action is None:
            raise ValueError(f"{type(self).__name__}.forward needs `action` (got None); pass the batch's 'action'.")
        return action


class ActionConditionedMinimalV1LVGDiT(_ActionDiTBase):
    """One flattened action vector per clip: (B, num_action_per_chunk, action_dim) -> (B, 1, 84).

    `action_dim` is the per-step dimension (7) and `num_action_per_chunk` the steps per clip (12), as in
    P2.5; upstream P2 passed the product directly as `action_dim=7*12`, which here is
    `action_dim=84, num_action_per_chunk=1` (same parameters and shapes).
    """

    def __init__(
        self, action_dim: int = 7, num_action_per_chunk: int = 12, temporal_compression_ratio: int | None = None,
        action_features: str = "raw", action_fourier_periods: tuple | list | None = None, **kwargs,
    ) -> None:
        # ``temporal_compression_ratio`` is accepted and unused: Hydra merges a net override into the model's
        # net node, so switching a chunk-net experiment to this clip net keeps that key (one vector per clip).
        del temporal_compression_ratio, action_fourier_periods
        if action_features != "raw":
            raise ValueError(f"{type(self).__name__} embeds raw actions only; got action_features={action_features!r} "
                             "(a chunk-net setting): override model.config.net.action_features=raw")
        self.action_dim, self.num_action_per_chunk = action_dim, num_action_per_chunk
        super().__init__(action_in_features=action_dim * num_action_per_chunk, **kwargs)

    def _extra_embeddings(self, action, cond_mask_B_T, T, dtype):
        action = self._require_action(action)
        B = action.shape[0]
        if action.numel() != B * self.action_in_features:
            raise ValueError(
                f"{type(self).__name__}: action must hold {self.num_action_per_chunk}x{self.action_dim} values per "
                f"sample (e.g. shape (B, {self.num_action_per_chunk}, {self.action_dim})), got {tuple(action.shape)}"
            )
        action_B_1_A = action.reshape(B, 1, self.action_in_features)
        return self._embed(action_B_1_A, dtype)  # (B, 1, D), (B, 1, 3D): broadcast over latent frames


class ActionChunkConditionedMinimalV1LVGDiT(_ActionDiTBase):
    """Per-latent-frame actions: `temporal_compression_ratio` consecutive actions per latent frame after the first."""

    def __init__(
        self, action_dim: int = 7, num_action_per_chunk: int = 12, temporal_compression_ratio: int = 4,
        action_features: str = "raw", action_fourier_periods: tuple | list | None = None, **kwargs
    ) -> None:
        if num_action_per_chunk % temporal_compression_ratio:
            raise ValueError(
                f"num_action_per_chunk={num_action_per_chunk} must be divisible by "
                f"temporal_compression_ratio={temporal_compression_ratio}"
            )
        self.action_dim, self.num_action_per_chunk = action_dim, num_action_per_chunk
        self.temporal_compression_ratio = temporal_compression_ratio
        # "raw" (released nets): the 4 deltas of each latent frame; "cumulative_fourier": see action_features.py
        self.action_features = action_features
        periods = DEFAULT_FOURIER_PERIODS if action_fourier_periods is None else action_fourier_periods
        self.action_fourier_periods = tuple(float(p) for p in periods)
        per_step = features_per_step(action_features, action_dim, self.action_fourier_periods)
        super().__init__(action_in_features=per_step * temporal_compression_ratio, **kwargs)

    def _extra_embeddings(self, action, cond_mask_B_T, T, dtype):
        action = self._require_action(action)
        B = action.shape[0]
        r = self.temporal_compression_ratio
        if action.numel() != B * (T - 1) * r * self.action_dim:
            raise ValueError(
                f"{type(self).__name__}: action {tuple(action.shape)} must give {r} actions of dim {self.action_dim} "
                f"per latent frame after the first: expected (B, {(T - 1) * r}, {self.action_dim}) for T={T} latent frames."
            )
        steps_B_N_F = action_step_features(action.reshape(B, (T - 1) * r, self.action_dim), self.action_features,
                                           self.action_fourier_periods)
        action_B_Tm1_A = steps_B_N_F.reshape(B, T - 1, self.action_in_features)  # (B, 3, 28) for 12x7 raw, T=4
        emb_D, emb_3D = self._embed(action_B_Tm1_A, dtype)
        keep_B_T_1 = (1.0 - cond_mask_B_T.to(dtype)).unsqueeze(-1)  # conditioning frames get no action
        emb_B_T_D = torch.cat([torch.zeros_like(emb_D[:, :1]), emb_D], dim=1) * keep_B_T_1
        emb_B_T_3D = torch.cat([torch.zeros_like(emb_3D[:, :1]), emb_3D], dim=1) * keep_B_T_1
        return emb_B_T_D, emb_B_T_3D


class SingleActionConditionedDiT(_ActionDiTBase):
    """One `action_dim`-d action per sample (P1 2-frame action model semantics).

    `action` may be (B, action_dim) or (B, N, action_dim); only the first action is used, as in P1.

    Note on upstream P1 (`general_dit_action.py`): it copies the AdaLN input (`affline_emb_B_D`) *before*
    adding the D-path action embedding to the timestep embedding, so the D-path is computed but never
    reaches the network and only the 3D (AdaLN-LoRA) path carries the action. That is a bug; here both
    paths are used as intended (D-path added to the pre-norm timestep embedding, 3D to the LoRA vector).
    """

    def __init__(self, action_dim: int = 7, **kwargs) -> None:
        self.action_dim = action_dim
        super().__init__(action_in_features=action_dim, **kwargs)

    def _extra_embeddings(self, action, cond_mask_B_T, T, dtype):
        action = self._require_action(action)
        if action.ndim == 3:
            action = action[:, 0]
        if action.ndim != 2 or action.shape[1] != self.action_dim:
            raise ValueError(
                f"SingleActionConditionedDiT: action must be (B, {self.action_dim}) or (B, N, {self.action_dim}), "
                f"got {tuple(action.shape)}"
            )
        return self._embed(action.unsqueeze(1), dtype)  # (B, 1, D), (B, 1, 3D)
