"""porch-embedded: a Porch-compatible package orchestration server in one trio process."""

__version__ = "0.1.0"
