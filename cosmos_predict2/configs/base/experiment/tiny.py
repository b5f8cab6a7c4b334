"""CPU experiments: tiny world models trained on scripts/prepare_synthetic_data.py's or prepare_sim_data.py's data.

``tiny_action_conditioned_bridge``: chunk-action DiT (4 actions per latent frame) + the tiny linear
tokenizer (64 channels), clip-relative cumulative + Fourier action features, Predict2-style rectified-flow
preconditioning trained mostly at high noise (log sigma ~ N(3, 1)) and sampled in one step (its conditional
mean estimate), conditioning frames blurred in half the training samples (ConditionFrameBlur), 13-frame
Bridge-format clips, batch 16, lr 2e-3, bf16 compute with fp32 master weights, 4300 iterations (about 22
minutes on 2 CPU cores; results in BENCHMARKS.md).
``tiny_action_conditioned_sim``: the same recipe on MuJoCo robot-arm episodes (scripts/prepare_sim_data.py) at
batch 8 for 2900 iterations: 30 minutes of float32 training on 2 CPU cores (results in BENCHMARKS.md section 0).
``tiny_action_conditioned_lerobot``: the same recipe on a LeRobot v3.0 dataset with 10-d actions and two cameras
(scripts/prepare_synthetic_data.py --layout lerobot), float32.
``tiny_video2world_text``: text(-embedding)-conditioned video DiT on synthetic video-text data.
"""

from cosmos_predict2.configs.registry import register_experiment
from cosmos_predict2.lazy_config import L

# Every N iterations: roll out a few validation episodes with the EMA weights, log PSNR/SSIM against the
# ground truth (and against shuffled actions / copy-last-frame) and write a preview mp4 into the job dir.
ROLLOUT_EVAL = L("cosmos_predict2.trainer.eval_callback.RolloutEvalCallback")(
    every_n=500, num_episodes=2, split="val", num_steps=1, write_video=True, use_ema=True, run_at_end=False)

tiny_action_conditioned_bridge = dict(
    defaults=[
        {"override /model": "tiny_action_conditioned_rectified_flow"},
        {"override /optimizer": "adamw"},
        {"override /scheduler": "lambdalinear"},
        {"override /ckpt_type": "dcp"},
        {"override /data_train": "synthetic_bridge_train"},
        {"override /data_val": "synthetic_bridge_val"},
        "_self_",
    ],
    job=dict(project="cosmos_predict2_tiny", group="action_conditioned", name="tiny_action_conditioned_bridge"),
    model=dict(config=dict(fsdp_shard_size=-1, precision="bfloat16", ema=dict(enabled=True, rate=0.10))),
    optimizer=dict(lr=2e-3, weight_decay=0.01, betas=[0.9, 0.99]),
    scheduler=dict(warm_up_steps=[200], cycle_lengths=[4_300], f_start=[1.0e-3], f_max=[1.0], f_min=[0.1]),
    dataloader_train=dict(batch_size=16, num_workers=1),
    trainer=dict(max_iter=4_300, logging_iter=200, validation_iter=500, seed=0,
                 callbacks=dict(grad_clip=dict(clip_norm=1.0), rollout_eval=ROLLOUT_EVAL)),
    checkpoint=dict(save_iter=500, keep_last_k=2),
)

def _on_data(experiment: dict, train: str, val: str, name: str) -> dict:
    """``experiment`` reading the ``train`` / ``val`` data groups, as job ``name``."""
    swap = {"override /data_train": train, "override /data_val": val}
    defaults = [{k: swap[k]} if isinstance(d, dict) and (k := next(iter(d))) in swap else d
                for d in experiment["defaults"]]
    return dict(experiment, defaults=defaults, job=dict(experiment["job"], name=name))


# The recipe on MuJoCo robot-arm episodes; half the batch, more updates in the same 30 minutes.
tiny_action_conditioned_sim = dict(
    _on_data(tiny_action_conditioned_bridge, "sim_bridge_train", "sim_bridge_val", "tiny_action_conditioned_sim"),
    scheduler=dict(warm_up_steps=[100], cycle_lengths=[2_900], f_start=[1.0e-3], f_max=[1.0], f_min=[0.1]),
    dataloader_train=dict(batch_size=8, num_workers=1),
    trainer=dict(tiny_action_conditioned_bridge["trainer"], max_iter=2_900),
)

# The recipe on a LeRobot v3.0 dataset (scripts/prepare_synthetic_data.py --layout lerobot): the front camera (a
# wrist camera is present and unused) and 10-d recorded single-arm actions [dxyz, rot6d, gripper] normalised by
# the training episodes' mean / std (computed at launch, stored in config.yaml and in converted checkpoints).
tiny_action_conditioned_lerobot = dict(
    _on_data(tiny_action_conditioned_bridge, "synthetic_lerobot_train", "synthetic_lerobot_val",
             "tiny_action_conditioned_lerobot"),
    model=dict(config=dict(tiny_action_conditioned_bridge["model"]["config"], precision="float32",
                           net=dict(action_dim=10))),
)

tiny_video2world_text = dict(
    defaults=[
        {"override /model": "tiny_video2world_rectified_flow"},
        {"override /optimizer": "adamw"},
        {"override /scheduler": "lambdalinear"},
        {"override /ckpt_type": "dcp"},
        {"override /data_train": "synthetic_video_text_train"},
        {"override /data_val": "synthetic_video_text_val"},
        "_self_",
    ],
    job=dict(project="cosmos_predict2_tiny", group="video2world", name="tiny_video2world_text"),
    model=dict(config=dict(fsdp_shard_size=-1, ema=dict(enabled=True, rate=0.10))),
    optimizer=dict(lr=1e-3, weight_decay=0.01, betas=[0.9, 0.99]),
    scheduler=dict(warm_up_steps=[50], cycle_lengths=[2_000], f_start=[1.0e-3], f_max=[1.0], f_min=[0.1]),
    trainer=dict(max_iter=1_000, logging_iter=50, validation_iter=250, seed=0),
    checkpoint=dict(save_iter=250, keep_last_k=2),
)


def register() -> None:
    register_experiment("tiny_action_conditioned_bridge", tiny_action_conditioned_bridge, cpu=True)
    register_experiment("tiny_action_conditioned_sim", tiny_action_conditioned_sim, cpu=True)
    register_experiment("tiny_action_conditioned_lerobot", tiny_action_conditioned_lerobot, cpu=True)
    register_experiment("tiny_video2world_text", tiny_video2world_text, cpu=True)
