"""Training: optimizers, schedules and the loop (the loop imports JAX; the catalog does not)."""
