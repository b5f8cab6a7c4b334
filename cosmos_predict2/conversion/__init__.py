"""Turning training checkpoints into files for inference and other tools (.pt, diffusers)."""
