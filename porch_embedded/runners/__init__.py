"""runners layer."""
