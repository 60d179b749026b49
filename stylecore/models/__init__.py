"""Style model networks: the generator and the discriminators."""
