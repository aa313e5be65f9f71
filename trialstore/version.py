"""The installed version of trialstore."""

__all__ = ["__version__"]

#: trialstore's version, as pip shows it.
__version__ = "0.1.0"
