"""Predict2 Video2World post-training on AgiBotWorld-Alpha (head centre fisheye camera, task 327).

2B: 8 GPUs, context parallel 2. 14B: 32 GPUs (4 nodes), FSDP shard 32, context parallel 8.
Children ``..._{480p,720p}_{10fps,16fps}`` swap the model and the data size (480p = 432x768;
10 fps = 61 frames, 16 latent frames; the 2B 480p children use context parallel 1).
"""

from cosmos_predict2.configs.registry import register_experiment

DATA = "datasets/agibot_head_center_fisheye_color"


def _agibot(size: str, wd: float, cycle: int, f_max: float, shard: int, cp: int, **model_extra):
    return dict(
        defaults=[
            {"override /model": f"predict2_video2world_fsdp_{size}"},
            {"override /optimizer": "fusedadamw"},
            {"override /scheduler": "lambdalinear"},
            {"override /ckpt_type": "standard"},
            {"override /data_train": "agibot_head_center_fisheye_color_train"},
            {"override /data_val": "agibot_head_center_fisheye_color_val"},
            "_self_",
        ],
        job=dict(project="posttraining", group="video2world", name=f"{size}_agibot_head_center_fisheye_color"),
        model=dict(config=dict(fsdp_shard_size=shard, ema=dict(enabled=True), **model_extra)),
        model_parallel=dict(context_parallel_size=cp),
        optimizer=dict(lr=2 ** (-15.5), weight_decay=wd),  # 2.1579e-05
        scheduler=dict(warm_up_steps=[2_000], cycle_lengths=[cycle], f_max=[f_max], f_min=[0.0]),
        dataloader_train=dict(batch_size=1, dataset=dict(dataset_dir=f"{DATA}/train", num_frames=93,
                                                         video_size=[704, 1280])),
        dataloader_val=dict(batch_size=1, dataset=dict(dataset_dir=f"{DATA}/val", num_frames=93,
                                                       video_size=[704, 1280])),
        trainer=dict(max_iter=100_000),
        checkpoint=dict(save_iter=500),
    )


predict2_video2world_training_2b_agibot_head_center_fisheye_color = _agibot(
    "2b", wd=0.1, cycle=400_000, f_max=0.99, shard=8, cp=2,
    min_num_conditional_frames=1, max_num_conditional_frames=1,
    net=dict(rope_h_extrapolation_ratio=2.0, rope_w_extrapolation_ratio=2.0, rope_t_extrapolation_ratio=1.0))
predict2_video2world_training_14b_agibot_head_center_fisheye_color = _agibot(
    "14b", wd=0.2, cycle=50_000, f_max=0.2, shard=32, cp=8)


def _variant(size: str, res: str, fps: int) -> dict:
    frames = 93 if fps == 16 else 61
    hw = [704, 1280] if res == "720" else [432, 768]
    cp = 1 if (size == "2b" and res == "480") else (2 if size == "2b" else 8)
    return dict(
        defaults=[f"/experiment/predict2_video2world_training_{size}_agibot_head_center_fisheye_color",
                  {"override /model": f"predict2_video2world_fsdp_{size}_{res}p_{fps}fps"}, "_self_"],
        job=dict(name=f"{size}_agibot_head_center_fisheye_color_{res}p_{fps}fps"),
        model_parallel=dict(context_parallel_size=cp),
        dataloader_train=dict(dataset=dict(num_frames=frames, video_size=hw)),
        dataloader_val=dict(dataset=dict(num_frames=frames, video_size=hw)),
    )


def register() -> None:
    register_experiment("predict2_video2world_training_2b_agibot_head_center_fisheye_color",
                        predict2_video2world_training_2b_agibot_head_center_fisheye_color)
    register_experiment("predict2_video2world_training_14b_agibot_head_center_fisheye_color",
                        predict2_video2world_training_14b_agibot_head_center_fisheye_color)
    for size in ("2b", "14b"):
        for res in ("480", "720"):
            for fps in (10, 16):
                register_experiment(
                    f"predict2_video2world_training_{size}_agibot_head_center_fisheye_color_{res}p_{fps}fps",
                    _variant(size, res, fps))
