"""Customer 360: dashboard."""
