"""The one place video and audio files are opened: probing (frame count, geometry, rate, proof that a file
decodes), decoding video frames onto the dataset's frame grid, and loading audio aligned to those frames.

Everything above it reads media through it: validation and assembly probe, feature extraction decodes, methods
that read raw media (Efficient Listener) decode at their own size, FRRea and submission videos read frames. Errors
are :class:`mafrg.errors.DataError` naming the file.
"""
