"""ReactDiff-K (Luo et al., arXiv 2510.04712): temporal EDM diffusion with kinematics and facial-action priors."""

from mafrg.methods.reactdiffk import method  # noqa: F401 - registers the method
