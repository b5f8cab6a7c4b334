"""Diffusion math: objectives, conditioner and samplers (pure tensor code)."""
