"""The installed version of trialstore."""

__all__ = ["__version__"]

__version__ = "0.1.0"
