"""Embedded demo dataset: a documented generative process written in the REACT 2024 layout."""
