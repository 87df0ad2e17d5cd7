"""The error of the extractors layer (the one class every extractor and the feature streams raise)."""


class WeightsError(ValueError):
    """A stream's configured weights are missing or do not produce what the stream needs (the message names the
    file and what was found)."""
