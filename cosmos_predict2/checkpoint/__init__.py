"""Checkpointers (DCP folders, standard ``.pt`` files, none) and weight initialisation from released files."""
