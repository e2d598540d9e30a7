"""PyTorch twins of the from-scratch pieces, and helpers that compare them."""
