"""Checkpointers (DCP folders, standard ``.pt`` files, none), the one weight loader (``weights.py``), the converter
and random weights in the released layouts."""
