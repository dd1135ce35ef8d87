"""Pieces memory backends are built from: synthetic internalization formats, module splits, routers."""
