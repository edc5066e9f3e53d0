"""AI-literacy competency assessment service."""

__version__ = "0.1.0"
