"""Group ``model`` (package ``_global_``): the diffusion world model = net + tokenizer + conditioner +
objective (+ EMA), plus the distributed layout (``fsdp_shard_size``) it trains with.

Formulations (selected by the ``objective`` node, never by code branches):
- Predict2: EDM-style log-normal sigma (x sqrt(latent frames)) with rectified-flow preconditioning.
- Predict2.5: rectified flow, logit-normal t shifted by 5, velocity target.
- Predict1: EDM (sigma_data 0.5) with log-variance weighting.
"""

from __future__ import annotations

from typing import Any

from cosmos_predict2.configs.base.defaults import net as net_presets
from cosmos_predict2.configs.base.defaults.conditioner import conditioner
from cosmos_predict2.configs.base.defaults.tokenizer import (P1_ACTION_PIXEL_CHUNK, P2_2B_VAE, P2_14B_VAE, P25_VAE,
                                                              cosmos1_cv8x8x8, wan)
from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L
from cosmos_predict2.pipelines.model_config import MODEL_TARGET, Video2WorldConfig

OBJ = "cosmos_predict2.diffusion.objectives"
SAMPLERS = "cosmos_predict2.diffusion.samplers"
TINY_ACTION_STEPS = 1  # sampling steps of the tiny action model (why: see register())

# Pixel sizes per resolution name (H, W) for 16:9, as upstream.
RESOLUTIONS = {"256": (256, 320), "480": (432, 768), "512": (384, 640), "720": (704, 1280)}


def predict2_objective(high_sigma_ratio: float = 0.05):
    return L(f"{OBJ}.RectifiedFlowEDMObjective")(p_mean=0.0, p_std=1.0, adjust_video_noise=True,
                                                 high_sigma_ratio=high_sigma_ratio, sigma_conditional=1.0e-4,
                                                 sigma_data=1.0, loss_scale=10.0)


def rectified_flow_objective(shift: float = 5.0):
    """Predict2.5 rectified flow: the net gets ``1000 t`` (its ``timestep_scale`` 0.001 brings it back to t)."""
    return L(f"{OBJ}.RectifiedFlowObjective")(shift=shift, train_time_distribution="logitnormal",
                                              denoise_replace_gt_frames=True)


def edm_objective():
    return L(f"{OBJ}.EDMObjective")(sigma_data=0.5, p_mean=0.0, p_std=1.0, sigma_max=80.0, sigma_min=0.0002,
                                    loss_add_logvar=True, loss_reduce="mean", loss_scale=1.0,
                                    augment_sigma_scale=4.0, augment_sigma_inference=0.001)


def predict2_sampler(guidance: float = 7.0, num_steps: int = 35):
    return L(f"{SAMPLERS}.RectifiedFlowAB2Sampler")(num_steps=num_steps, sigma_min=0.002, sigma_max=80.0, rho=7.0,
                                                    guidance=guidance)


def unipc_sampler(guidance: float = 7.0, shift: float = 5.0):
    return L(f"{SAMPLERS}.FlowUniPCSampler")(num_steps=35, shift=shift, guidance=guidance)


def edm_sampler(guidance: float = 7.0):
    return L(f"{SAMPLERS}.EDMSampler")(num_steps=35, sigma_min=0.002, sigma_max=80.0, rho=7.0, guidance=guidance)


def video2world_model(**keys: Any) -> dict:
    """A ``model`` group node (package ``_global_``): ``keys`` are ``model.config`` keys (nested sections as
    dicts), checked against :class:`Video2WorldConfig`, which holds every default. ``state_t`` defaults to the
    latent frames of ``num_video_frames`` under the 4x temporal tokenizer."""
    config = Video2WorldConfig.from_node(keys)
    if config.state_t is None:
        config.state_t = 1 + (config.num_video_frames - 1) // 4
    return dict(
        trainer=dict(distributed_parallelism="fsdp"),
        model=L(MODEL_TARGET)(config=config.to_node(), _recursive_=False),
    )


def weights(dit_path: str, new_modules: tuple = ()) -> dict:
    """``model_manager_config``: start from ``dit_path``; ``new_modules``: net modules the file may lack."""
    return dict(dit_path=dit_path, new_modules=list(new_modules))


ACTION_EMBEDDERS = ("action_embedder_B_D", "action_embedder_B_3D")
# Predict2.5 text: Reason1.1-7B full-concat embeddings (100352 wide) computed online upstream. The action data's
# captions are empty and their embedding is the zero embedding here (pipelines/video2world_model.py), so no
# encoder folder is read (path ""); upstream encodes the empty string with Reason1.1-7B.
P25_TEXT = dict(kind="reason1p1_7B", path="", compute_online=True, embed_dim=100352)
# Predict2.5 base models (Hub nvidia/Cosmos-Predict2.5-{2B,14B}, base/pre-trained): the starting point of the
# Predict2.5 post-training experiments.
P25_BASE = {
    "2B": "checkpoints/nvidia/Cosmos-Predict2.5-2B/base/pre-trained/d20b7120-df3e-4911-919d-db6e08bad31c_ema_bf16.pt",
    "14B": "checkpoints/nvidia/Cosmos-Predict2.5-14B/base/pre-trained/54937b8c-29de-4f04-862c-e67b04ec41e8_ema_bf16.pt",
}


def _net(size: str, kind: str = "base", **extra):
    kwargs = net_presets.dit_kwargs(size, **extra)
    if kind == "base":
        return L(net_presets.DIT)(**kwargs)
    target = {"clip": net_presets.ACTION_DIT, "chunk": net_presets.ACTION_CHUNK_DIT,
              "single": net_presets.SINGLE_ACTION_DIT}[kind]
    return L(target)(**kwargs, **net_presets.action_kwargs(kind))


def register() -> None:
    video_conditioner = conditioner(0.2, 0.2)
    action_conditioner = conditioner(0.0, 0.0, use_action=True)
    # ---------------- Predict2 Video2World (EDM-sigma + RF preconditioning), 2B / 14B, 480p / 720p, 10 / 16 fps
    for size, vae in (("2B", P2_2B_VAE), ("14B", P2_14B_VAE)):
        for res, fps, frames in (("720", 16, 93), ("720", 10, 61), ("480", 16, 93), ("480", 10, 61)):
            node = video2world_model(net=_net(size), tokenizer=wan(vae, temporal_window=16),
                                     conditioner=video_conditioner, objective=predict2_objective(0.05),
                                     sampler=predict2_sampler(7.0), num_video_frames=frames, resolution=res, fps=fps,
                                     activation_checkpointing=f"predict2_{size.lower()}_720",
                                     model_manager_config=weights(f"checkpoints/nvidia/Cosmos-Predict2-{size}-"
                                                                  f"Video2World/model-{res}p-{fps}fps.pt"))
            register_group_option("model", f"predict2_video2world_fsdp_{size.lower()}_{res}p_{fps}fps", node)
            if (res, fps) == ("720", 16):
                register_group_option("model", f"predict2_video2world_fsdp_{size.lower()}", node)

    # ---------------- Predict2 action-conditioned 2B (one 84-d action vector per clip), 480p, 13 frames, 4 fps
    ac = video2world_model(
        net=_net("2B", "clip"), tokenizer=wan(P2_2B_VAE), conditioner=action_conditioner,
        objective=predict2_objective(0.0), sampler=predict2_sampler(0.0), num_video_frames=13, resolution="480",
        fps=4, ema=dict(enabled=False), min_num_conditional_frames=1, max_num_conditional_frames=1,
        activation_checkpointing="predict2_2b_720",
        model_manager_config=weights("checkpoints/nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned/"
                                     "model-480p-4fps.pt"))
    # canonical name + the upstream spellings of the same node
    for name in ("action_conditional_predict2_v2w_2b_fsdp", "action_conditioned_predict2_v2w_2b_fsdp",
                 "predict2_v2w_2b_action_conditioned_fsdp"):
        register_group_option("model", name, ac)

    # ---------------- Predict2.5 rectified flow (video2world base + action-conditioned)
    for size in ("2B", "14B"):
        rf = video2world_model(net=_net(size, **net_presets.P25_NET), tokenizer=wan(P25_VAE),
                               conditioner=video_conditioner, objective=rectified_flow_objective(5.0),
                               sampler=unipc_sampler(7.0), num_video_frames=93, resolution="720", fps=16,
                               conditional_frames_probs={0: 0.5, 1: 0.25, 2: 0.25}, min_num_conditional_frames=0,
                               max_num_conditional_frames=2, text_encoder=P25_TEXT,
                               activation_checkpointing=f"predict2_{size.lower()}_720_aggressive",
                               model_manager_config=weights(P25_BASE[size]))
        suffix = "" if size == "2B" else "_14b"
        register_group_option("model", f"fsdp_rectified_flow{suffix}", rf)
        register_group_option("model", f"ddp{suffix}", rf)
        register_group_option("model", f"fsdp{suffix}", rf)
    acrf = video2world_model(
        net=_net("2B", "chunk", **net_presets.P25_NET), tokenizer=wan(P25_VAE), conditioner=action_conditioner,
        objective=rectified_flow_objective(5.0), sampler=unipc_sampler(0.0), num_video_frames=13, resolution="256",
        fps=4, min_num_conditional_frames=1, max_num_conditional_frames=1, text_encoder=P25_TEXT,
        activation_checkpointing="predict2_2b_720_aggressive",
        # post-trained from the Predict2.5 base video model: the action embedders start from their init
        model_manager_config=weights(P25_BASE["2B"], ACTION_EMBEDDERS))
    for name in ("action_conditioned_video2world_fsdp_rectified_flow", "action_conditioned_video2world_fsdp",
                 "action_conditioned_video2world_ddp"):
        register_group_option("model", name, acrf)

    # ---------------- Predict1 7B action-conditioned EDM (2 frames: 1 conditioning + 1 predicted)
    p1 = video2world_model(
        net=L(net_presets.P1_ACTION_DIT)(**net_presets.p1_action_kwargs()),
        tokenizer=cosmos1_cv8x8x8(P1_ACTION_PIXEL_CHUNK), conditioner=conditioner(0.0, 0.2, use_action=True),
        objective=edm_objective(), sampler=edm_sampler(7.0), num_video_frames=2, state_t=2, resolution="256", fps=4,
        min_num_conditional_frames=1, max_num_conditional_frames=1, activation_checkpointing="none",
        model_manager_config=weights("checkpoints/nvidia/Cosmos-Predict1-7B-Video2World/model.pt", ACTION_EMBEDDERS))
    register_group_option("model", "predict1_video2world_action_7b", p1)

    # ---------------- CPU presets (tiny nets, cheap tokenizer, no text encoder; BENCHMARKS.md section 1)
    tiny_text = dict(kind="none", path="", compute_online=False, embed_dim=64)
    # 64 latent channels: enough detail in the tiny linear tokenizer's round trip for the world model to beat
    # copy-the-last-frame on the synthetic scenes
    tiny_ch = 64
    tiny_tok = L("cosmos_predict2.tokenizers.tiny_tokenizer.TinyVideoTokenizer")(latent_ch=tiny_ch)
    tiny_net = net_presets.dit_kwargs(**net_presets.TINY, in_channels=tiny_ch, out_channels=tiny_ch)
    # Predict2-style training (conditioning frames marked clean by their own timestep, sigma 1e-4) without the
    # large-video noise shift, mostly at high noise (log sigma ~ N(3, 1)): there the frames to predict say
    # little, so the net must lean on the conditioning frame and the actions.
    tiny_objective = L(f"{OBJ}.RectifiedFlowEDMObjective")(p_mean=3.0, p_std=1.0, adjust_video_noise=False,
                                                          high_sigma_ratio=0.0, sigma_conditional=1.0e-4,
                                                          sigma_data=1.0, loss_scale=1.0)
    # The action model sees every 8x8-pixel latent cell as its own token (patch 1: a 2x2 patch of 64 channels
    # would ask a 128-wide net for 256 outputs per token), gets the conditioning latent frame as extra input
    # channels of every frame (copying it is then one linear map) and absolute positions in every block. Its
    # actions come with their clip-relative running sums and Fourier features of the summed translation
    # (models/action_features.py), so each latent frame is told where the gripper is, not only how it moved.
    # One sampling step: from pure noise the net's x0 prediction is its estimate of the conditional mean of
    # the future frames, the PSNR-optimal prediction; more steps draw a sharper sample that PSNR scores lower
    # where the net is unsure. ``--num-steps`` of the evaluation / inference scripts overrides it.
    tiny_action_net = dict(tiny_net, patch_spatial=1, concat_condition_frame=True, extra_per_block_abs_pos_emb=True,
                           action_features="cumulative_fourier")
    register_group_option("model", "tiny_action_conditioned_rectified_flow", video2world_model(
        net=L(net_presets.ACTION_CHUNK_DIT)(**tiny_action_net, **net_presets.action_kwargs("chunk")),
        tokenizer=tiny_tok, conditioner=action_conditioner, objective=tiny_objective,
        sampler=predict2_sampler(0.0, num_steps=TINY_ACTION_STEPS), num_video_frames=13, resolution="64", fps=4,
        min_num_conditional_frames=1, max_num_conditional_frames=1, text_encoder=tiny_text, precision="float32",
        activation_checkpointing="none", fsdp_shard_size=-1, state_ch=tiny_ch,
        # blurred conditioning frames in half the samples: later rollout chunks start from the model's own
        # blurred frame
        condition_augment=L("cosmos_predict2.diffusion.condition_augment.ConditionFrameBlur")(prob=0.5, max_sigma=1.5)))
    register_group_option("model", "tiny_video2world_rectified_flow", video2world_model(
        net=L(net_presets.DIT)(**dict(tiny_net, timestep_scale=0.001)), tokenizer=tiny_tok,
        conditioner=video_conditioner, objective=rectified_flow_objective(5.0), sampler=unipc_sampler(3.0),
        num_video_frames=9, resolution="64", fps=8, min_num_conditional_frames=0, max_num_conditional_frames=1,
        conditional_frames_probs={0: 0.5, 1: 0.5}, text_encoder=tiny_text, precision="float32",
        activation_checkpointing="none", state_ch=tiny_ch))
