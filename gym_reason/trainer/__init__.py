"""Self-play training: config, models and decoding, batched rollouts, advantages, losses, the loop."""
