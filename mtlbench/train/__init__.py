"""The MTL step engine and the training loop."""
