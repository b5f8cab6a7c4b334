"""Predict2.5 action-conditioned post-training on Bridge (rectified flow, 2B, 13 frames at 256x320).

``ac_reason_embeddings_rectified_flow_2b_256_320`` is the experiment of the Predict2.5 action guide,
with the defaults list exactly as the guide shows it (one 84-d action vector per clip,
lr 2**-14.5 = 4.3158e-05, weight decay 0.1). Upstream later switched the same name to the chunk
net (4 actions x 7 per latent frame), lr 32e-5 and batch 8, which is what the released
``Cosmos-Predict2.5-2B/robot/action-cond`` checkpoint uses; that recipe is registered as
``cosmos_predict2p5_2B_reason_embeddings_action_conditioned_rectified_flow_bridge_13frame_256x320``.
Override ``net=cosmos_v1_2B_action_chunk_conditioned`` to fine-tune the released chunk checkpoint.

As upstream, the experiment body (not the net group) sets the Predict2.5 net options (``P25_NET``: the
100352 -> 1024 text projection, timestep scale 0.001, Wan fp32 strategy), so they survive ``override /net``.
"""

from cosmos_predict2.configs.base.defaults.net import P25_NET
from cosmos_predict2.configs.registry import register_experiment
from cosmos_predict2.configs.schema import P25_OUTPUT_ROOT

_COMMON = dict(
    job=dict(
        group="cosmos_predict_v2p5",
        name="2b_bridge_action_conditioned",
        project="cosmos_predict2_action_conditioned",
        default_output_root=P25_OUTPUT_ROOT,  # as upstream when IMAGINAIRE_OUTPUT_ROOT is unset
    ),
    # the parent experiment's conditioner settings (its body, after the conditioner group): text dropout 0.2
    model=dict(config=dict(net=P25_NET, conditioner=dict(text_dropout_rate=0.2, use_video_condition_dropout_rate=0.0),
                           num_video_frames=13, state_t=4, resolution="256", fsdp_shard_size=8,
                           min_num_conditional_frames=1, max_num_conditional_frames=1,
                           conditional_frames_probs=None, ema=dict(enabled=True, rate=0.10))),
    dataloader_train=dict(batch_size=2, dataset=dict(video_size=[256, 320], gripper_rescale_factor=1.0)),
    dataloader_val=dict(batch_size=2, dataset=dict(video_size=[256, 320], gripper_rescale_factor=1.0)),
    scheduler=dict(warm_up_steps=[100], cycle_lengths=[400_000], f_start=[1.0e-6], f_max=[0.99], f_min=[0.4]),
    trainer=dict(max_iter=150_000, logging_iter=200, callbacks=dict(grad_clip=dict(clip_norm=0.1))),
    checkpoint=dict(save_iter=2_000),
)

AC_REASON_EMBEDDINGS_RECTIFIED_FLOW_2B_256_320 = dict(
    defaults=[
        {"override /model": "action_conditioned_video2world_fsdp_rectified_flow"},
        {"override /net": "cosmos_v1_2B_action_conditioned"},
        {"override /conditioner": "action_conditioned_video_conditioner"},
        {"override /data_train": "bridge_13frame_480_640_train"},
        {"override /data_val": "bridge_13frame_480_640_val"},
        {"override /optimizer": "adamw"},
        {"override /scheduler": "lambdalinear"},
        {"override /ckpt_type": "dcp"},
        {"override /ema": "power"},
        "_self_",
    ],
    optimizer=dict(
        lr=2 ** (-14.5),  # 4.3158e-05
        weight_decay=0.1,
    ),
    **_COMMON,
)

AC_CHUNK_RECIPE = dict(
    defaults=[
        "/experiment/ac_reason_embeddings_rectified_flow_2b_256_320",
        {"override /net": "cosmos_v1_2B_action_chunk_conditioned"},
        "_self_",
    ],
    optimizer=dict(lr=32e-5, weight_decay=0.1),
    dataloader_train=dict(batch_size=8),
    dataloader_val=dict(batch_size=8),
)


def register() -> None:
    register_experiment("ac_reason_embeddings_rectified_flow_2b_256_320", AC_REASON_EMBEDDINGS_RECTIFIED_FLOW_2B_256_320)
    register_experiment(
        "cosmos_predict2p5_2B_reason_embeddings_action_conditioned_rectified_flow_bridge_13frame_256x320",
        AC_CHUNK_RECIPE)
