"""Cosmos-Predict1 action DiT: ``ActionConditionalVideoExtendGeneralDIT`` with upstream's parameter names.

A released ``Cosmos-Predict1-7B-Video2World/model.pt`` (``net.*``) and Predict1 action post-training
checkpoints (``iter_N_{reg,ema}_model.pt``) load into this net key for key. Upstream: nvidia-cosmos/cosmos-predict1
@4ed35fa, ``diffusion/training/networks/general_dit.py`` (GeneralDIT), ``general_dit_action.py``
(ActionConditionalGeneralDIT / ActionConditionalVideoExtendGeneralDIT), net config FADITV2 7B in
``diffusion/training/config/text2world/registry.py`` (``faditv2_7b``), action experiment
``diffusion/training/config/video2world_action/experiment.py``. Blocks: ``models/general_dit_blocks.py``.

Forward (the 2-frame action experiment; timesteps are per sample, as upstream's ``timesteps.flatten()``)::

    x (B,16,T,H,W) ++ condition mask (B,1,T,H,W) ++ padding mask (resized nearest, repeated over T)
      -> x_embedder: patchify 1x2x2 + Linear(18*4 -> D)                     -> (B, T, H/2*W/2, D)
    pos_embedder: 3D RoPE (head split t/h/w = 44/42/42, NTK ratios), temporal positions t * 24 / fps[0]
    timesteps (B,) -> sinusoid (B,D) -> t_embedder.1 -> (raw sinusoid = affine emb, AdaLN-LoRA (B,3D))
    action[:, 0] (B,7) -> action_embedder_B_3D -> added to the AdaLN-LoRA vector
                       -> action_embedder_B_D   -> NOT used (upstream quirk, below)
    affline_norm (RMSNorm) on the affine emb; blocks (FA with RoPE, CA on the T5 (B,N,1024), GELU MLP, each
    AdaLN-modulated); final_layer; unpatchify -> (B, 16, T, H, W)

The D-path quirk: upstream copies ``affline_emb_B_D = timesteps_B_D`` (general_dit_action.py:421) and only then
adds the D-path action embedding to ``timesteps_B_D`` (:430), which is never read again, so
``action_embedder_B_D`` gets no gradient and has no effect; only the AdaLN-LoRA path (:431) carries the action.
This net reproduces that by default (``use_action_d_path=False``: the D-path is not computed; its parameters
exist, load and save, and stay untrained); ``use_action_d_path=True`` adds it to the affine embedding before
``affline_norm`` as intended (not upstream's behaviour; released action checkpoints were trained without it).

Differences from upstream that do not change the math: no buffers (upstream's persistent ``pos_embedder.seq``
and TransformerEngine ``_extra_state`` entries are not in ``state_dict()``; ``released_non_learned_entries()``
lists them and the weight loader skips them); ``in_channels`` counts the latent channels only (upstream's
``in_channels=17`` includes the condition-mask channel; the patch Linear is 18*4 wide either way).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from cosmos_predict2.models.dit import mask_channels, unpatchify
from cosmos_predict2.models.frame_sharding import FrameShardedNet
from cosmos_predict2.models.general_dit_blocks import (
    BlockDict,
    GeneralDITTransformerBlock,
    P1Attention,
    P1FinalLayer,
    P1PatchEmbed,
    P1TimestepEmbedding,
    VideoRopePosition3DEmb,
)
from cosmos_predict2.models.init import init_module_
from cosmos_predict2.models.layers import Mlp, RMSNorm, Timesteps


def _only(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"ActionConditionalVideoExtendGeneralDIT: {name}={value!r} is not supported "
                         f"(the Predict1 7B action experiment uses {allowed[0]!r}).")


class ActionConditionalVideoExtendGeneralDIT(FrameShardedNet, nn.Module):
    """Predict1 Video2World action DiT (defaults: the resolved net of ``video2world_action_bridge_2frames``).

    Args (upstream names): ``in_channels`` latent channels (see module doc), ``block_config`` any '-'-joined
    sequence of FA / CA / MLP, ``affline_emb_norm`` RMSNorm on the affine embedding (else identity),
    ``layer_mask`` per-block skip flags (a skipped ``block{i}`` is absent), ``base_fps`` the fps at which the
    temporal RoPE positions are integers (upstream 24). Extra: ``action_dim`` (7), ``use_action_d_path``
    (module doc), ``atten_backend`` (models/attention.py). Accepted with their only supported value (upstream
    features this experiment does not use): ``additional_timestamp_channels``, ``use_cross_attn_mask``,
    ``extra_per_block_abs_pos_emb``, ``legacy_patch_emb``, ``add_augment_sigma_embedding``, window attention,
    ``use_adaln_lora=True``, ``pos_emb_cls='rope3d'``. Accepted and ignored (no effect on the math):
    ``block_x_format``, ``use_memory_save``, ``use_checkpoint`` (activation checkpointing lives in parallel/),
    ``pos_emb_learnable``, ``pos_emb_interpolation``, ``min_fps``, ``max_fps``, ``extra_*_extrapolation_ratio``,
    ``extra_per_block_abs_pos_emb_type``. Predict2 preset keys (``configs/base/defaults/net.py::dit_kwargs``) are
    accepted at their neutral values (``use_crossattn_projection=False``, ``timestep_scale=1``,
    ``use_wan_fp32_strategy=False``; ``crossattn_proj_in_channels``, ``rope_enable_fps_modulation`` ignored).
    """

    attention_layer_cls = P1Attention

    def __init__(
        self,
        max_img_h: int = 240,
        max_img_w: int = 240,
        max_frames: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        patch_spatial: int = 2,
        patch_temporal: int = 1,
        concat_padding_mask: bool = True,
        block_config: str = "FA-CA-MLP",
        model_channels: int = 4096,
        num_blocks: int = 28,
        num_heads: int = 32,
        mlp_ratio: float = 4.0,
        crossattn_emb_channels: int = 1024,
        pos_emb_cls: str = "rope3d",
        affline_emb_norm: bool = True,
        use_adaln_lora: bool = True,
        adaln_lora_dim: int = 256,
        layer_mask: Optional[list] = None,
        rope_h_extrapolation_ratio: float = 1.0,
        rope_w_extrapolation_ratio: float = 1.0,
        rope_t_extrapolation_ratio: float = 2.0,
        base_fps: float = 24.0,
        action_dim: int = 7,
        use_action_d_path: bool = False,
        atten_backend: str = "torch",
        additional_timestamp_channels: Optional[dict] = None,
        use_cross_attn_mask: bool = False,
        extra_per_block_abs_pos_emb: bool = False,
        legacy_patch_emb: bool = False,
        add_augment_sigma_embedding: bool = False,
        window_block_indexes: tuple | list = (),
        window_sizes: tuple | list = (),
        spatial_attn_win_size: int = 1,
        temporal_attn_win_size: int = 1,
        use_crossattn_projection: bool = False,
        timestep_scale: float = 1.0,
        use_wan_fp32_strategy: bool = False,
        **ignored: Any,
    ) -> None:
        super().__init__()
        _only("pos_emb_cls", pos_emb_cls, ("rope3d",))
        _only("use_adaln_lora", use_adaln_lora, (True,))
        _only("additional_timestamp_channels", additional_timestamp_channels or None, (None,))
        _only("use_cross_attn_mask", use_cross_attn_mask, (False,))
        _only("extra_per_block_abs_pos_emb", extra_per_block_abs_pos_emb, (False,))
        _only("legacy_patch_emb", legacy_patch_emb, (False,))
        _only("add_augment_sigma_embedding", add_augment_sigma_embedding, (False,))
        _only("window_block_indexes", list(window_block_indexes or []), ([],))
        _only("window_sizes", list(window_sizes or []), ([],))
        _only("spatial_attn_win_size", spatial_attn_win_size, (1,))
        _only("temporal_attn_win_size", temporal_attn_win_size, (1,))
        _only("use_crossattn_projection", use_crossattn_projection, (False,))  # Predict2(.5) net keys, neutral only
        _only("timestep_scale", float(timestep_scale), (1.0,))
        _only("use_wan_fp32_strategy", use_wan_fp32_strategy, (False,))
        known = {"block_x_format", "use_memory_save", "use_checkpoint", "pos_emb_learnable", "pos_emb_interpolation",
                 "min_fps", "max_fps", "extra_per_block_abs_pos_emb_type", "extra_h_extrapolation_ratio",
                 "extra_w_extrapolation_ratio", "extra_t_extrapolation_ratio",
                 # Predict2 preset keys with no meaning here (fps always sets the temporal RoPE positions)
                 "crossattn_proj_in_channels", "rope_enable_fps_modulation", "sac_config", "use_cuda_graphs"}
        unknown = sorted(set(ignored) - known)
        if unknown:
            raise TypeError(f"ActionConditionalVideoExtendGeneralDIT: unknown arguments {unknown}")
        if model_channels % num_heads:
            raise ValueError(f"model_channels={model_channels} not divisible by num_heads={num_heads}")
        layer_mask = [False] * num_blocks if layer_mask is None else list(layer_mask)
        if len(layer_mask) != num_blocks:
            raise ValueError(f"layer_mask has {len(layer_mask)} entries for num_blocks={num_blocks}")
        self.max_img_h, self.max_img_w, self.max_frames = max_img_h, max_img_w, max_frames
        self.in_channels, self.out_channels = in_channels, out_channels
        self.patch_spatial, self.patch_temporal = patch_spatial, patch_temporal
        self.concat_padding_mask = concat_padding_mask
        self.model_channels, self.num_blocks, self.num_heads = model_channels, num_blocks, num_heads
        self.head_dim = model_channels // num_heads
        self.block_config = block_config
        self.action_dim = action_dim
        self.use_action_d_path = use_action_d_path

        # construction order = upstream's state-dict order
        self.x_embedder = P1PatchEmbed(in_channels + 1 + int(concat_padding_mask), model_channels,
                                       patch_spatial, patch_temporal)
        self.pos_embedder = VideoRopePosition3DEmb(
            self.head_dim, max_img_h // patch_spatial, max_img_w // patch_spatial, max_frames // patch_temporal,
            base_fps, rope_h_extrapolation_ratio, rope_w_extrapolation_ratio, rope_t_extrapolation_ratio)
        self.t_embedder = nn.Sequential(Timesteps(model_channels), P1TimestepEmbedding(model_channels, True))
        self.blocks = BlockDict({
            f"block{i}": GeneralDITTransformerBlock(model_channels, crossattn_emb_channels, num_heads, block_config,
                                                    mlp_ratio, use_adaln_lora, adaln_lora_dim, atten_backend)
            for i in range(num_blocks) if not layer_mask[i]
        })
        self.final_layer = P1FinalLayer(model_channels, patch_spatial, patch_temporal, out_channels,
                                        use_adaln_lora, adaln_lora_dim)
        self.affline_norm = RMSNorm(model_channels, eps=1e-6) if affline_emb_norm else nn.Identity()
        # upstream: timm Mlp(7 -> 4D -> D | 3D), GELU(tanh), biases, PyTorch's default Linear init
        self.action_embedder_B_D = Mlp(action_dim, 4 * model_channels, model_channels)
        self.action_embedder_B_3D = Mlp(action_dim, 4 * model_channels, 3 * model_channels)

    def init_weights(self) -> None:
        """(Re-)initialise every parameter as at construction, unit by unit (models/init.py)."""
        init_module_(self)

    def released_non_learned_entries(self) -> dict[str, torch.Tensor]:
        """Entries a Predict1 ``model.pt`` holds besides parameters (values as upstream's buffers hold them):
        the persistent RoPE buffer ``pos_embedder.seq`` and, with TransformerEngine 1.x (``DotProductAttention``
        is a TE module), the attention ops' ``_extra_state`` (empty here: no FP8 metadata)."""
        out = {"pos_embedder.seq": torch.arange(self.pos_embedder.seq_len, dtype=torch.float32)}
        for name, block in self.blocks.items():
            for k, layer in enumerate(block.blocks):
                if hasattr(layer.block, "attn"):
                    out[f"blocks.{name}.blocks.{k}.block.attn.attn_op._extra_state"] = torch.empty(0, dtype=torch.uint8)
        return out

    # ------------------------------------------------------------------ forward pieces
    def _timesteps_per_sample(self, timesteps: torch.Tensor, B: int) -> torch.Tensor:
        """(B,) or (B, T) with one value per sample (the EDM objective expands c_noise over T) -> (B,)."""
        if timesteps.ndim == 1 and timesteps.shape[0] == B:
            return timesteps
        if timesteps.ndim == 2 and timesteps.shape[0] == B and not bool((timesteps != timesteps[:, :1]).any()):
            return timesteps[:, 0]
        raise ValueError(f"ActionConditionalVideoExtendGeneralDIT (Predict1) embeds one timestep per sample: timesteps "
                         f"must be (B,) or (B, T) equal over T (the EDM objective), got {tuple(timesteps.shape)}.")

    def _action(self, action: Optional[torch.Tensor], B: int) -> torch.Tensor:
        if action is None:
            raise ValueError("ActionConditionalVideoExtendGeneralDIT.forward needs `action` (B, N, 7) or (B, 7).")
        a = action[:, 0] if action.ndim == 3 else action  # upstream: action[:, 0, :] ("training on 1 frame")
        if a.shape != (B, self.action_dim):
            raise ValueError(f"action must be (B, N, {self.action_dim}) or (B, {self.action_dim}), "
                             f"got {tuple(action.shape)}")
        return a

    def forward(
        self,
        x_B_C_T_H_W: torch.Tensor,
        timesteps_B_T: torch.Tensor,
        crossattn_emb_B_N_D: torch.Tensor,
        condition_video_input_mask_B_C_T_H_W: Optional[torch.Tensor] = None,
        fps: Optional[torch.Tensor] = None,
        padding_mask: Optional[torch.Tensor] = None,
        action: Optional[torch.Tensor] = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """(B, in_channels, T, H, W) latents -> (B, out_channels, T, H, W); same keywords as ``MiniTrainDIT``.

        A missing condition mask is zeros (upstream's image case); ``fps`` sets the temporal RoPE positions
        (required for T > 1); other kwargs (e.g. data_type) are ignored."""
        del kwargs
        if x_B_C_T_H_W.ndim != 5 or x_B_C_T_H_W.shape[1] != self.in_channels:
            raise ValueError(f"x must be (B, in_channels={self.in_channels}, T, H, W), got {tuple(x_B_C_T_H_W.shape)}")
        B = x_B_C_T_H_W.shape[0]
        x_in = torch.cat([x_B_C_T_H_W, *mask_channels(x_B_C_T_H_W, condition_video_input_mask_B_C_T_H_W,
                                                      padding_mask, True, self.concat_padding_mask)], dim=1)
        x_B_T_h_w_D = self.x_embedder(x_in)
        _, T, h, w, D = x_B_T_h_w_D.shape
        x_B_T_L_D = x_B_T_h_w_D.view(B, T, h * w, D)
        dtype = x_B_T_L_D.dtype
        rope_cos_sin = self.pos_embedder(T, h, w, fps, x_B_T_L_D.device)

        sinusoid_B_D = self.t_embedder[0](self._timesteps_per_sample(timesteps_B_T, B)).to(dtype)
        affine_B_D, adaln_lora_B_3D = self.t_embedder[1](sinusoid_B_D)
        a_B_A = self._action(action, B).to(dtype)
        adaln_lora_B_3D = adaln_lora_B_3D + self.action_embedder_B_3D(a_B_A)
        if self.use_action_d_path:
            affine_B_D = affine_B_D + self.action_embedder_B_D(a_B_A)
        affine_B_D = self.affline_norm(affine_B_D)
        # one modulation per sample, broadcast over the latent frames: (B, 1, .)
        emb_B_1_D, adaln_lora_B_1_3D = affine_B_D.unsqueeze(1), adaln_lora_B_3D.unsqueeze(1)
        context_B_N_D = crossattn_emb_B_N_D.to(dtype)

        if self.frame_sharding is not None:  # context parallelism: this rank's latent frames from here on
            x_B_T_L_D = self.frame_sharding.split(x_B_T_L_D, 1)
            rope_cos_sin = tuple(self.frame_sharding.split(r_S_1_K, 0) for r_S_1_K in rope_cos_sin)
        for block in self.blocks:
            x_B_T_L_D = block(x_B_T_L_D, emb_B_1_D, context_B_N_D, rope_cos_sin, adaln_lora_B_1_3D)
        out_B_T_L_M = self.final_layer(x_B_T_L_D, emb_B_1_D, adaln_lora_B_1_3D)
        if self.frame_sharding is not None:
            out_B_T_L_M = self.frame_sharding.gather(out_B_T_L_M, 1)
        return unpatchify(out_B_T_L_M.view(B, T, h, w, -1), self.patch_spatial, self.patch_temporal,
                          self.out_channels)
