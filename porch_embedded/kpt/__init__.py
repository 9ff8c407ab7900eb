"""kpt layer."""
