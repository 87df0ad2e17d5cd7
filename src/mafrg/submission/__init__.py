"""Challenge submission packages: what the REACT organisers and their tools read.

Layout of one package (one method; its variants side by side; docs/submissions.md):

    DIR/manifest.json                                      what, from which models and code, every file's sha256
    DIR/<offline|online>/<split>/<site>/<session>/<person>/<clip>/result-{0..9}.npy   (T, 25) emotion
                                                          .../3dmm-{0..9}.npy       (T, 58) 3DMM coefficients
    DIR/<offline|online>/<split>/predictions.npy           (2N, 10, T, 25) in the official row order (fixed-length clips)
    DIR/<offline|online>/<split>/results.pt                clips of any length (MARS): {"PRED": [10 x T_k x 25], "GT":
                                                          [the row's ground truths at T_k]} in row order, as the
                                                          official REACT 2025/2026 baselines write it
    DIR/<offline|online>/<split>/rows.csv                  each row's speaker and listener clip
    DIR/<offline|online>/videos/<split>/<site>/<session>/<person>/<clip>.mp4  speaker beside 3 reactions

A clip directory is keyed by the *speaker's* clip path, as the official REGNN baseline writes it; the official
row order is every line of the split file with its speaker as speaker, then every line mirrored.
:mod:`.values` applies the value rules, :mod:`.pack` writes a package, :mod:`.videos` renders the clips,
:mod:`.check` reads any package in this layout back.
"""

VARIANT_DIRS = ("offline", "online")
RESULTS_PT = "results.pt"  # clips of any length (MARS): the official baselines' {"PRED": [...], "GT": [...]}
MANIFEST = "manifest.json"
# The speaker clips whose rendered reactions the REACT organisers asked for (when the split has them).
DEFAULT_VIDEO_CLIPS = (
    "NoXI/001_2016-03-17_Paris/Expert_video/21",
    "NoXI/023_2016-04-25_Paris/Expert_video/25",
    "NoXI/019_2016-04-20_Paris/Expert_video/13",
    "RECOLA/group-2/P41/2",
)


def result_name(k: int, fmt: str) -> str:
    return f"result-{k}.{fmt}"


def tdmm_name(k: int) -> str:
    return f"3dmm-{k}.npy"
