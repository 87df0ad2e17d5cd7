"""Efficient Listener (FAD + ELNet): listener reactions from raw speaker frames and audio, one denoising step."""

from mafrg.methods.efficient_listener import method  # noqa: F401 - registers EfficientListener
