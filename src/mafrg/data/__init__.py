"""REACT 2024 data layer: layout, readers, validation and assembled split arrays."""
