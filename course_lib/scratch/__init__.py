"""From-scratch NumPy implementations. Nothing in this package imports torch."""
