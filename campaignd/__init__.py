"""campaignd: a newsletter and campaign sender daemon."""

__version__ = "0.1.0"
