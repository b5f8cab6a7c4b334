"""Predict2 action-conditioned post-training on Bridge (2B, one 84-d action vector per 13-frame clip).

Registered as ``action_conditional_predict2_video2world_2b_training`` (the name in the post-training
guide) and under the two upstream spellings of the same experiment.
"""

from cosmos_predict2.configs.registry import register_experiment

action_conditional_predict2_video2world_2b_training = dict(
    defaults=[
        {"override /model": "action_conditional_predict2_v2w_2b_fsdp"},
        {"override /optimizer": "fusedadamw"},
        {"override /ckpt_type": "standard"},
        {"override /data_train": "bridge_train"},
        {"override /data_val": "bridge_val"},
        "_self_",
    ],
    model=dict(
        config=dict(
            num_video_frames=13,
            resolution="720",
            fsdp_shard_size=8,
        )
    ),
    # fusedadamw defaults: lr 1e-4, weight decay 0.1, betas (0.9, 0.99); constant schedule; EMA off.
    optimizer=dict(lr=1e-4, weight_decay=0.1),
    job=dict(
        project="posttraining",
        group="video2world",
        name="action_conditional_predict2_video2world_2b_training_${now:%Y-%m-%d}_${now:%H-%M-%S}",
    ),
)


def register() -> None:
    register_experiment(
        "action_conditional_predict2_video2world_2b_training",
        action_conditional_predict2_video2world_2b_training,
        aliases=("action_conditioned_predict2_video2world_2b_training",
                 "predict2_video2world_2b_action_conditioned_training"),
    )
