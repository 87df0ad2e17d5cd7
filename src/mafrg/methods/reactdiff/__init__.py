"""ReactDiff (Li et al., Neural Networks 2025): a Multi-Modality Transformer autoencoder of facial behaviour and a
conditional DDIM in its latent space that generates listener reactions from speaker behaviour."""

from mafrg.methods.reactdiff.method import ReactDiff  # noqa: F401 - registers the method
