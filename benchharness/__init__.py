"""benchharness: decide which ML model goes to production, on which machine, at what cost."""

__version__ = "0.1.0"
