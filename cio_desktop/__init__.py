"""CIO Desktop: a treasury workstation. The core (everything outside ``ui``) runs without Qt."""

__version__ = "0.1.0"
