"""Text encoders (T5) used to produce cross-attention embeddings for Video2World."""
