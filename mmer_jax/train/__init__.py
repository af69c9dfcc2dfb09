"""Training: data-parallel jitted steps, optimisers, losses, the train/evaluate loop."""
