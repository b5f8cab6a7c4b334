"""Evaluation of action-conditioned world models: frame metrics, baselines, rollout protocols, reports.

Public API: :func:`evaluate` (score a model and the baselines on episodes under named protocols, optionally write
the report), :data:`PROTOCOLS` / :func:`get_protocol` (the protocols' rules and sources),
:func:`load_episodes` / :func:`read_episode_list` (episodes to score), and the per-frame metrics
:func:`psnr_per_frame`, :func:`ssim_per_frame`, :func:`frame_metrics`, :func:`latent_l2`, and the per-clip
:func:`dynamic_psnr`.
"""

from cosmos_predict2.evaluation.episodes import EvalEpisode, load_episodes, read_episode_list
from cosmos_predict2.evaluation.evaluate import METHODS, PROTOCOLS, evaluate
from cosmos_predict2.evaluation.metrics import dynamic_psnr, frame_metrics, latent_l2, psnr_per_frame, ssim_per_frame
from cosmos_predict2.evaluation.protocols import get_protocol

__all__ = ["EvalEpisode", "load_episodes", "read_episode_list", "METHODS", "PROTOCOLS", "evaluate", "get_protocol",
           "dynamic_psnr", "frame_metrics", "latent_l2", "psnr_per_frame", "ssim_per_frame"]
