"""Parallelism applied from outside the networks: device mesh, Ulysses context parallelism,
activation checkpointing and FSDP2 / HSDP, in that fixed order (see :func:`parallelize.parallelize_model`)."""
