"""Predict1 action-conditioned post-training on Bridge (7B EDM, 2 frames: 1 conditioning + 1 predicted).

As upstream: Predict1's ``ActionConditionalVideoExtendGeneralDIT`` (faditv2_7b module tree and parameter names,
``models/general_dit.py``; one 7-d action, only its AdaLN-LoRA path reaches the net, as upstream), the
Cosmos-Tokenize1-CV8x8x8-720p tokenizer with ``pixel_chunk_duration=1`` (each frame an image: 2 frames give 2
latent frames), EDM training (sigma_data 0.5, log-variance weighting) and Predict1's checkpoint files
(``ckpt_type=fsdp``: ``iter_N_reg_model.pt`` / ``iter_N_ema_model.pt``).
"""

from cosmos_predict2.configs.registry import register_experiment

video2world_action_bridge_2frames = dict(
    defaults=[
        {"override /model": "predict1_video2world_action_7b"},
        {"override /optimizer": "fusedadamw"},
        {"override /scheduler": "lambdalinear"},
        # Predict1's checkpoint files (iter_N_reg_model.pt / iter_N_ema_model.pt / iter_N_optim.pt / iter_N.pt):
        # the guide copies iter_000002000_ema_model.pt to checkpoints/<...>_action_post-trained/model.pt
        {"override /ckpt_type": "fsdp"},
        {"override /data_train": "bridge_2frames_256_320_train"},
        {"override /data_val": "bridge_2frames_256_320_val"},
        "_self_",
    ],
    job=dict(project="posttraining", group="diffusion_video2world_action", name="video2world_action_bridge_2frames"),
    model=dict(config=dict(fsdp_shard_size=32, ema=dict(enabled=True, rate=0.10),
                           net=dict(rope_h_extrapolation_ratio=1.0, rope_w_extrapolation_ratio=1.0,
                                    rope_t_extrapolation_ratio=2.0))),
    optimizer=dict(lr=4e-4, weight_decay=0.1, betas=[0.9, 0.99], eps=1e-10),
    scheduler=dict(warm_up_steps=[2_500], cycle_lengths=[10_000_000_000_000], f_start=[1.0e-6], f_max=[1.0],
                   f_min=[1.0]),
    dataloader_train=dict(batch_size=8),
    trainer=dict(max_iter=2_000, logging_iter=200),
    checkpoint=dict(save_iter=500),
)


def register() -> None:
    register_experiment("video2world_action_bridge_2frames", video2world_action_bridge_2frames)
