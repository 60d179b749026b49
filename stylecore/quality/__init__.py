"""Quality measures and checks."""
