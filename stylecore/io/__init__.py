"""Image bytes in and out, with guards."""
