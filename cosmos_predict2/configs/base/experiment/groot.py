"""Predict2 Video2World post-training on GR1 (DreamGen bench): 93 frames at 432x768.

2B: 8 GPUs, FSDP shard 8, no context parallel. 14B: 32 GPUs, FSDP shard 32, context parallel 4
(start from ``Cosmos-Predict2-14B-Video2World-Sample-GR00T-Dreams-GR1`` with
``model.config.model_manager_config.dit_path=...``).
"""

from cosmos_predict2.configs.registry import register_experiment

DATA = "datasets/benchmark_train/gr1"


def _groot(size: str, shard: int, cp: int) -> dict:
    return dict(
        defaults=[
            {"override /model": f"predict2_video2world_fsdp_{size}_480p_16fps"},
            {"override /optimizer": "fusedadamw"},
            {"override /scheduler": "lambdalinear"},
            {"override /ckpt_type": "standard"},
            {"override /data_train": "gr1"},
            {"override /data_val": "gr1"},
            "_self_",
        ],
        job=dict(project="posttraining", group="video2world", name=f"{size}_groot_gr1_480"),
        model=dict(config=dict(
            fsdp_shard_size=shard, ema=dict(enabled=False),
            # the released 720p/16fps weights are the starting point at 480p as well
            model_manager_config=dict(dit_path=f"checkpoints/nvidia/Cosmos-Predict2-{size.upper()}-Video2World/"
                                               "model-720p-16fps.pt"))),
        model_parallel=dict(context_parallel_size=cp),
        optimizer=dict(lr=2 ** (-14.5), weight_decay=0.1),
        scheduler=dict(warm_up_steps=[1_000], cycle_lengths=[100_000], f_max=[0.2], f_min=[0.1]),
        dataloader_train=dict(batch_size=1, num_workers=8, pin_memory=True,
                              dataset=dict(dataset_dir=DATA, num_frames=93, video_size=[432, 768])),
        dataloader_val=dict(batch_size=1, dataset=dict(dataset_dir=DATA, num_frames=93, video_size=[432, 768])),
        checkpoint=dict(save_iter=200),
    )


predict2_video2world_training_2b_groot_gr1_480 = _groot("2b", shard=8, cp=1)
predict2_video2world_training_14b_groot_gr1_480 = _groot("14b", shard=32, cp=4)


def register() -> None:
    register_experiment("predict2_video2world_training_2b_groot_gr1_480", predict2_video2world_training_2b_groot_gr1_480)
    register_experiment("predict2_video2world_training_14b_groot_gr1_480", predict2_video2world_training_14b_groot_gr1_480)
