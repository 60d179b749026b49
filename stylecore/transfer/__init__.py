"""Transfer at inference: compositing, colour controls (restyle_image lands on top)."""
