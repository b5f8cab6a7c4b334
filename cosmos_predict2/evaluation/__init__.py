"""Evaluation of action-conditioned world models: frame metrics, baselines, rollout protocols, reports."""
