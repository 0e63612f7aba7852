"""Towers (PyTorch only): encoders, the user tower, the item tower, and the two-tower model."""
