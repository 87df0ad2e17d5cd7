"""REACT 2024 metrics: a fast engine (:mod:`engine`) over vectorised/compiled kernels (:mod:`core`, :mod:`dtw`)."""
