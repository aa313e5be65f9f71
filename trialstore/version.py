"""The installed version of trialstore."""

__version__ = "0.1.0"
