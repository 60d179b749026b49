"""Training loops for the style GAN (single process here; Ray Train wraps the same step)."""
