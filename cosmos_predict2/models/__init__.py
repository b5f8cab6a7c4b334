"""Networks: the Cosmos-Predict2 video DiT, its action-conditioned variants, attention dispatch, presets
and state-dict key maps. Importing this package never imports torch.distributed, flash_attn or
transformer_engine (optional attention backends load lazily on first use)."""
