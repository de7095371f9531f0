"""blindspot: remove the identities of people from photos before they are shared."""

__version__ = "0.1.0"
