"""The one version of the distribution and its three packages; hatch reads it from here."""

__version__ = "0.1.0"
