"""Inference pipelines used by examples/: model loading, action rollouts, video2world, best-of-N."""
