"""Groups ``data_train`` / ``data_val`` (also ``dataloader_train`` / ``dataloader_val``): video-text data.

Every node is ``build_dataloader(dataset=..., ...)`` and exposes the dataset root as
``dataloader_train.dataset.dataset_dir``, so ``dataloader_train.dataset.dataset_dir=/my/data`` points any
experiment at the user's data. The loader takes the data-parallel rank/size from the trainer
(context-parallel ranks share a sample) and ignores unknown extra keys with a warning.
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L

BUILD_DATALOADER = "cosmos_predict2.data.loader.build_dataloader"
VIDEO_TEXT = "cosmos_predict2.data.video_text.VideoTextDataset"


def video_text_loader(dataset_dir: str, num_frames: int, video_size, batch_size: int = 1, num_workers: int = 8,
                      mode: str = "train", t5_embedding_dim: int = 1024):
    dataset = L(VIDEO_TEXT)(dataset_dir=dataset_dir, num_frames=num_frames, video_size=list(video_size), mode=mode,
                            t5_embedding_dim=t5_embedding_dim,
                            # or "skip": drop samples that fail to load, listed in <job>/bad_samples.jsonl
                            on_bad_sample="error", max_bad_sample_fraction=0.01,
                            preflight="on")  # check every file before the model is built (cached); "full" / "off"
    return L(BUILD_DATALOADER)(dataset=dataset, batch_size=batch_size, num_workers=num_workers,
                               shuffle=mode == "train", drop_last=mode == "train")


def register() -> None:
    # GR1 (DreamGen): 93 frames at 432x768 (480p, 16:9).
    register_group_option("data_train", "gr1", video_text_loader("datasets/benchmark_train/gr1", 93, (432, 768)))
    register_group_option("data_val", "gr1", video_text_loader("datasets/benchmark_train/gr1", 93, (432, 768),
                                                               mode="val", num_workers=2))
    # AgiBotWorld-Alpha head fisheye camera, windows of 5 s: 93 frames at 704x1280 (720p).
    agibot = "datasets/agibot_head_center_fisheye_color"
    register_group_option("data_train", "agibot_head_center_fisheye_color_train",
                          video_text_loader(f"{agibot}/train", 93, (704, 1280)))
    register_group_option("data_val", "agibot_head_center_fisheye_color_val",
                          video_text_loader(f"{agibot}/val", 93, (704, 1280), mode="val", num_workers=2))
    # Synthetic text-to-robot-video data made by scripts/prepare_synthetic_data.py (CPU experiments).
    synth = "datasets/synthetic_video_text"
    register_group_option("data_train", "synthetic_video_text_train",
                          video_text_loader(synth, 9, (64, 80), batch_size=2, num_workers=1, t5_embedding_dim=64))
    register_group_option("data_val", "synthetic_video_text_val",
                          video_text_loader(synth, 9, (64, 80), batch_size=2, num_workers=0, mode="val",
                                            t5_embedding_dim=64))
