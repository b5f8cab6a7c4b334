"""Model pipelines: the Video2World world model (net + tokenizer + conditioner + objective + EMA)."""
