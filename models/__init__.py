"""Customer 360: models."""
