"""simrenew: renewal and top-up platform for prepaid cross-border SIM and eSIM cards."""

__version__ = "0.1.0"
