"""Fixed facts of the REACT 2024 data format, shared by every module.

They live in one place because the order of the 25 emotion channels and the 58 3DMM coefficients is what
the official metrics and every model index into: a silent re-ordering would corrupt every number downstream.
"""

from __future__ import annotations

AU_NAMES: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU23", "AU24", "AU25", "AU26",
)
VA_NAMES: tuple[str, ...] = ("Valence", "Arousal")
EXPRESSION_NAMES: tuple[str, ...] = (
    "Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt",
)
EMOTION_COLUMNS: tuple[str, ...] = AU_NAMES + VA_NAMES + EXPRESSION_NAMES
N_EMOTION = len(EMOTION_COLUMNS)  # 25
N_AU = len(AU_NAMES)  # 15

# Channel groups used by FRDist (start, stop, weight): AUs, valence/arousal, expressions.
FRDIST_GROUPS: tuple[tuple[int, int, float], ...] = ((0, 15, 1.0 / 15.0), (15, 17, 1.0), (17, 25, 1.0 / 8.0))

N_3DMM = 58
N_3DMM_EXPRESSION = 52  # columns 0:52
ROTATION_SLICE = slice(52, 55)  # pitch, yaw, roll (radians)
TRANSLATION_SLICE = slice(55, 58)

SPLITS: tuple[str, ...] = ("train", "val", "test")
EVAL_SPLITS: tuple[str, ...] = ("val", "test")
MODALITY_DIRS: dict[str, str] = {
    "video": "Video_files",
    "audio": "Audio_files",
    "emotion": "Emotion",
    "tdmm": "3D_FV_files",
}

N_PREDICTIONS = 10  # alpha in the challenge
