"""Context-parallel inference (--num_gpus 2 under torchrun) gives the same chunk as one process:
2 gloo ranks on CPU, the tiny action model (4 latent frames, 4 heads), random weights from one seed."""

from __future__ import annotations

import os
import socket

import numpy as np
import torch
import torch.multiprocessing as mp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENT = "tiny_action_conditioned_bridge"


def _chunk(cp: int) -> np.ndarray:
    from cosmos_predict2.inference.action_rollout import generate_chunk
    from cosmos_predict2.inference.loading import build_inference_model
    from cosmos_predict2.inference.video2world import setup_context_parallel

    torch.manual_seed(0)
    model, _ = build_inference_model(EXPERIMENT, None, allow_random=True, device="cpu")
    setup_context_parallel(model, cp)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    return generate_chunk(model, frame, rng.normal(size=(12, 7)).astype(np.float32), num_steps=3, seed=1)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    video = _chunk(2)
    np.save(os.path.join(out_dir, f"rank{rank}.npy"), video)
    import torch.distributed as dist

    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_context_parallel_chunk_equals_single_process(tmp_path):
    reference = _chunk(1)
    mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    for rank in range(2):
        got = np.load(tmp_path / f"rank{rank}.npy")
        assert got.shape == reference.shape
        assert np.abs(got.astype(int) - reference.astype(int)).max() <= 1  # fp32 reduction order only
