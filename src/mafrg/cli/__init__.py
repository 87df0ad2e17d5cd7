"""``mafrg`` command line: one sub-command per workflow step, each usable on its own.

One module per stage, each keeping its parsers beside its handlers; handlers are thin, import their library
lazily and call it (so the code hash of one command, :mod:`mafrg.codehash`, covers what that command runs). The
parser and ``main`` are in :mod:`mafrg.cli.main`.
"""
