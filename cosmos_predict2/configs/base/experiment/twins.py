"""CPU-sized twins of the guides' experiments: same family, recipe and file chain, laptop-sized network.

Each twin inherits its seed experiment (defaults entry ``/experiment/<seed>``) and swaps only what makes it
large: the net (a tiny preset of the same class, chosen through the net group, so the seed's experiment body
still applies on top), the tokenizer (the weight-free tiny tokenizer with the same temporal rule), the text
width and the data (the synthetic Bridge / video-text sets of ``scripts/prepare_synthetic_data.py``). The
objective, sampler, conditioner, checkpoint format, job folder layout and inference script stay the seed's.

| twin | seed experiment (guide) | checkpoint | inference script |
|---|---|---|---|
| ``tiny_predict2_action_conditioned`` | ``action_conditional_predict2_video2world_2b_training`` (000) | standard ``model/iter_N.pt`` | ``examples/video2world_action.py`` |
| ``tiny_video2world_action_bridge_2frames`` | ``video2world_action_bridge_2frames`` (001) | Predict1 ``iter_N_{reg,ema}_model.pt`` | ``cosmos_predict1/diffusion/inference/video2world_action.py`` |
| ``tiny_ac_reason_embeddings_rectified_flow`` | ``ac_reason_embeddings_rectified_flow_2b_256_320`` (002) | DCP -> ``convert_distcp_to_pt.py`` | ``examples/action_conditioned.py`` |
| ``tiny_predict2_video2world`` | ``predict2_video2world_training_2b_groot_gr1_480`` / AgiBot (003, 004) | standard ``model/iter_N.pt`` | ``examples/video2world.py``, ``examples/video2world_gr00t.py`` |

Twins start from random weights (``dit_path`` empty) and keep fixed job names (no ``${now:...}``).
"""

from cosmos_predict2.configs.registry import register_experiment

SYNTH_BRIDGE = "datasets/synthetic_bridge"
SYNTH_VIDEO_TEXT = "datasets/synthetic_video_text"
TINY_TEXT = dict(kind="none", path="", compute_online=False, embed_dim=64)
# Twins train in float32: bf16 matmuls are ~100x slower on CPUs without native bf16.
_CPU_MODEL = dict(precision="float32", fsdp_shard_size=-1, activation_checkpointing="none",
                  model_manager_config=dict(dit_path="", new_modules=[]))


def _twin(seed: str, net: str, tokenizer: str, data: str, job: dict, model: dict, loader: dict, **body) -> dict:
    loader_train = dict(batch_size=2, num_workers=0, dataset=dict(dataset_dir=loader.pop("dataset_dir"), **loader))
    loader_val = dict(batch_size=2, num_workers=0, dataset=dict(loader_train["dataset"]))
    return dict(
        defaults=[
            f"/experiment/{seed}",
            {"override /net": net},
            {"override /tokenizer": tokenizer},
            {"override /data_train": f"{data}_train"},
            {"override /data_val": f"{data}_val"},
            "_self_",
        ],
        job=job,
        model=dict(config=dict(_CPU_MODEL, **model)),
        model_parallel=dict(context_parallel_size=1),
        dataloader_train=loader_train,
        dataloader_val=loader_val,
        trainer=dict(max_iter=100, logging_iter=10, **body.pop("trainer", {})),
        checkpoint=dict(save_iter=50, keep_last_k=2, **body.pop("checkpoint", {})),
        **body,
    )


tiny_predict2_action_conditioned = _twin(
    "action_conditional_predict2_video2world_2b_training", "tiny_action_dit", "tiny_tokenizer", "synthetic_bridge",
    job=dict(project="posttraining", group="video2world", name="tiny_predict2_action_conditioned"),
    model=dict(text_encoder=TINY_TEXT, resolution="64"),
    loader=dict(dataset_dir=SYNTH_BRIDGE, video_size=[64, 80], t5_embedding_dim=64),
)

tiny_video2world_action_bridge_2frames = _twin(
    "video2world_action_bridge_2frames", "tiny_faditv2_action", "tiny_tokenizer_per_frame", "synthetic_bridge",
    job=dict(project="posttraining", group="diffusion_video2world_action", name="tiny_video2world_action_bridge_2frames"),
    model=dict(text_encoder=TINY_TEXT, resolution="64"),
    loader=dict(dataset_dir=SYNTH_BRIDGE, num_frames=2, video_size=[64, 80], t5_embedding_dim=64),
)

# The Predict2.5 body keeps its net options (text projection, timestep scale 0.001, Wan fp32 strategy); only the
# projection's input width shrinks with the text width (the empty caption's zero embedding, 96 wide).
tiny_ac_reason_embeddings_rectified_flow = _twin(
    "ac_reason_embeddings_rectified_flow_2b_256_320", "tiny_action_dit", "tiny_tokenizer", "synthetic_bridge",
    job=dict(project="cosmos_predict2_action_conditioned", group="cosmos_predict_v2p5",
             name="tiny_ac_reason_embeddings_rectified_flow"),
    model=dict(text_encoder=dict(kind="reason1p1_7B", path="", compute_online=True, embed_dim=96),
               net=dict(crossattn_proj_in_channels=96), resolution="64"),
    loader=dict(dataset_dir=SYNTH_BRIDGE, video_size=[64, 80], t5_embedding_dim=64),
)

tiny_predict2_video2world = _twin(
    "predict2_video2world_training_2b_groot_gr1_480", "tiny_dit", "tiny_tokenizer", "synthetic_video_text",
    job=dict(project="posttraining", group="video2world", name="tiny_predict2_video2world"),
    model=dict(text_encoder=TINY_TEXT, resolution="64", num_video_frames=9, state_t=3),
    loader=dict(dataset_dir=SYNTH_VIDEO_TEXT, num_frames=9, video_size=[64, 80], t5_embedding_dim=64),
)

TWINS = {
    "tiny_predict2_action_conditioned": tiny_predict2_action_conditioned,
    "tiny_video2world_action_bridge_2frames": tiny_video2world_action_bridge_2frames,
    "tiny_ac_reason_embeddings_rectified_flow": tiny_ac_reason_embeddings_rectified_flow,
    "tiny_predict2_video2world": tiny_predict2_video2world,
}


def register() -> None:
    for name, node in TWINS.items():
        register_experiment(name, node, cpu=True)
