"""stylecore."""
