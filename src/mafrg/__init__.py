"""mafrg: a reproducible pipeline for Multiple Appropriate Facial Reaction Generation (REACT 2023/2024)."""

__version__ = "0.1.0"
