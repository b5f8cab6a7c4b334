"""Bridge (IRASim layout) data groups for action-conditioned post-training.

Layout (also what scripts/prepare_synthetic_data.py and scripts/prepare_sim_data.py write): ``<dataset_dir>/annotation/{train,val,test}/<episode>.json`` + ``videos/{split}/<episode>/rgb.mp4``
(the flat ``annotations/*.json`` + ``videos/*.mp4`` layout is accepted too). Actions are computed from
``state`` (relative gripper pose, x20) and ``continuous_gripper_state``.
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L

BUILD_DATALOADER = "cosmos_predict2.data.loader.build_dataloader"
BRIDGE = "cosmos_predict2.data.bridge.BridgeActionDataset"
LEROBOT = "cosmos_predict2.data.lerobot.LeRobotActionDataset"


def bridge_loader(mode: str, num_frames: int = 13, video_size=(480, 640), batch_size: int = 2,
                  dataset_dir: str = "datasets/bridge", num_workers: int = 4, t5_embedding_dim: int = 1024,
                  gripper_rescale_factor: float = 1.0):
    dataset = L(BRIDGE)(
        dataset_dir=dataset_dir,
        mode=mode,
        num_frames=num_frames,
        sequence_interval=1,
        start_frame_interval=1,
        val_start_frame_interval=1,
        cam_ids=[0],
        accumulate_action=False,
        video_size=list(video_size),
        load_action=True,
        load_t5_embeddings=False,
        t5_embedding_dim=t5_embedding_dim,
        action_scaler=20.0,
        gripper_rescale_factor=gripper_rescale_factor,
        on_bad_sample="error",  # or "skip": drop samples that fail to load, listed in <job>/bad_samples.jsonl
        max_bad_sample_fraction=0.01,
        preflight="on",  # check every file before the model is built (cached); "full" decodes every frame; "off"
    )
    return L(BUILD_DATALOADER)(dataset=dataset, batch_size=batch_size, num_workers=num_workers,
                               shuffle=mode == "train", drop_last=mode == "train")


def lerobot_loader(mode: str, root: str, camera: str | None, num_frames: int = 13, video_size=(480, 640),
                   batch_size: int = 2, num_workers: int = 4, t5_embedding_dim: int = 1024):
    """A LeRobot (v2.1 / v3.0) dataset: one camera, recorded actions normalised by mean / std of the training
    episodes (the launcher computes them once, cached, and writes them into the job's config.yaml)."""
    dataset = L(LEROBOT)(
        root=root,
        mode=mode,
        episodes=None,  # "a:b", "3,5,9" or a list; None: the info.json split named like `mode` (or `split`)
        split=None,
        camera=camera,
        state_key="observation.state",
        action_key="action",
        action_source="recorded",  # or "state_delta": [xyz, rpy] state deltas (pose_rotation euler: 7-d, rot6d: 10-d)
        action_dims=None,
        action_offset=0,
        pose_rotation="euler",
        gripper_index=6,
        num_frames=num_frames,
        sequence_interval=1,
        target_fps=None,
        start_frame_interval=1,
        val_start_frame_interval=1,
        video_size=list(video_size),
        tolerance_s=1e-4,
        normalization="mean_std",  # quantile | min_max | none
        action_normalization=None,  # filled by the launcher from the training episodes
        t5_embedding_dim=t5_embedding_dim,
        on_bad_sample="error",
        max_bad_sample_fraction=0.01,
        preflight="on",
    )
    return L(BUILD_DATALOADER)(dataset=dataset, batch_size=batch_size, num_workers=num_workers,
                               shuffle=mode == "train", drop_last=mode == "train")


def register() -> None:
    # Predict2: 480x640, 13 frames (12 actions), batch 2 per GPU.
    register_group_option("data_train", "bridge_train", bridge_loader("train"))
    register_group_option("data_val", "bridge_val", bridge_loader("val", num_workers=2))
    # Predict2.5 names (the experiment lowers the size to 256x320).
    register_group_option("data_train", "bridge_13frame_480_640_train", bridge_loader("train"))
    register_group_option("data_val", "bridge_13frame_480_640_val", bridge_loader("val", num_workers=2))
    # Predict1: 2 frames (1 conditioning + 1 predicted) at 256x320, batch 8.
    register_group_option("data_train", "bridge_2frames_256_320_train",
                          bridge_loader("train", num_frames=2, video_size=(256, 320), batch_size=8))
    register_group_option("data_val", "bridge_2frames_256_320_val",
                          bridge_loader("val", num_frames=2, video_size=(256, 320), batch_size=8, num_workers=2))
    # Bridge-format episodes made on this machine (CPU experiments): the synthetic 2D scene
    # (scripts/prepare_synthetic_data.py) and MuJoCo robot-arm episodes (scripts/prepare_sim_data.py).
    for name, folder in (("synthetic_bridge", "datasets/synthetic_bridge"), ("sim_bridge", "datasets/sim_bridge")):
        register_group_option("data_train", f"{name}_train",
                              bridge_loader("train", video_size=(64, 80), batch_size=4, dataset_dir=folder,
                                            num_workers=1, t5_embedding_dim=64))
        register_group_option("data_val", f"{name}_val",
                              bridge_loader("val", video_size=(64, 80), batch_size=4, dataset_dir=folder,
                                            num_workers=0, t5_embedding_dim=64))
    # Your robot's LeRobot dataset (v3.0 / v2.1) at the Predict2 size: data_train=lerobot_train
    # dataloader_train.dataset.root=DIR dataloader_train.dataset.camera=NAME (default: the first camera).
    register_group_option("data_train", "lerobot_train", lerobot_loader("train", "datasets/lerobot", None))
    register_group_option("data_val", "lerobot_val", lerobot_loader("val", "datasets/lerobot", None, num_workers=2))
    # LeRobot v3.0 episodes of the synthetic scene with a second (wrist) camera and 10-d actions
    # (scripts/prepare_synthetic_data.py --layout lerobot).
    for mode, group, workers in (("train", "data_train", 1), ("val", "data_val", 0)):
        register_group_option(group, f"synthetic_lerobot_{mode}",
                              lerobot_loader(mode, "datasets/synthetic_lerobot", "front", video_size=(64, 80),
                                             batch_size=4, num_workers=workers, t5_embedding_dim=64))
