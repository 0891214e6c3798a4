"""Customer 360: connectors."""
