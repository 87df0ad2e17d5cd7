"""Decoding, frame-rate resampling, preprocessing, audio alignment and MFCC/wav2vec2, on real recordings."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import SHARED_REAL
from features_helpers import save_tiny_wav2vec2
from mafrg.errors import DataError
from mafrg.features.audio import mfcc_per_frame
from mafrg.features.video import face_box, preprocess
from mafrg.media.audio import align_audio, load_audio
from mafrg.media.video import grid_indices, iter_frame_batches, plan_grid
from mafrg.extractors.errors import WeightsError
from mafrg.features.wav2vec import load_wav2vec2, wav2vec2_per_frame

needs_real = pytest.mark.skipif(not SHARED_REAL.exists(), reason="shared real media not present")


def _decode(path, which, monkeypatch):
    """Probe, the whole 25 fps grid in batches, and frames in any order (repeats included), with one decoder."""
    from mafrg.media import video

    monkeypatch.setenv(video.DECODER_ENV, which)
    plan = plan_grid(path, 25)
    grid = np.concatenate([b for _, b in iter_frame_batches(path, plan, 32)])
    return video.probe_video(path, full_decode=True), grid, video.read_frames(path, np.array([9, 0, 40, 9, 3]))


@needs_real
@pytest.mark.parametrize("name", ["WolfgangLanger_Pexels.mp4", "single_face.mp4"])
def test_opencv_decodes_the_same_frames_as_decord(name, monkeypatch):
    """Where decord has no wheel (aarch64), OpenCV's FFmpeg decodes: the same frame count, rate, size and RGB
    values, bit for bit (the 23.98 fps clip goes onto the 25 fps grid with repeated frames)."""
    info_d, grid_d, some_d = _decode(SHARED_REAL / name, "decord", monkeypatch)
    info_o, grid_o, some_o = _decode(SHARED_REAL / name, "opencv", monkeypatch)
    assert info_o == info_d and grid_o.dtype == np.uint8
    assert np.array_equal(grid_o, grid_d) and np.array_equal(some_o, some_d)


def test_without_decord_the_opencv_decoder_is_chosen(monkeypatch, tmp_path):
    import sys

    from mafrg.media import video

    monkeypatch.delenv(video.DECODER_ENV, raising=False)
    assert video.decoder() == "decord"
    monkeypatch.setitem(sys.modules, "decord", None)  # as on a machine where decord is not installed
    assert video.decoder() == "opencv"
    monkeypatch.setenv(video.DECODER_ENV, "pyav")
    with pytest.raises(ValueError, match="MAFRG_VIDEO_DECODER='pyav': choose one of decord, opencv"):
        video.decoder()


@needs_real
@pytest.mark.parametrize("which", ["decord", "opencv"])
def test_corrupt_and_truncated_videos_are_named_by_either_decoder(which, monkeypatch, tmp_path):
    from mafrg.media import video

    monkeypatch.setenv(video.DECODER_ENV, which)
    junk, cut = tmp_path / "junk.mp4", tmp_path / "cut.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    raw = (SHARED_REAL / "single_face.mp4").read_bytes()
    cut.write_bytes(raw[: len(raw) // 3])
    for bad in (junk, cut):
        with pytest.raises(DataError, match=rf"{bad.name}: video (cannot be decoded|has no frames)"):
            video.probe_video(bad)


@needs_real
@pytest.mark.parametrize("name,fps,frames", [("WolfgangLanger_Pexels.mp4", 23.976, 472), ("single_face.mp4", 30.0, None)])
def test_real_video_onto_25fps_grid(name, fps, frames):
    plan = plan_grid(SHARED_REAL / name, 25)
    assert abs(plan.source_fps - fps) < 0.01
    if frames:
        assert plan.source_frames == frames
    duration = plan.source_frames / plan.source_fps
    assert plan.frames == int(np.floor(duration * 25 + 1e-9))
    # each grid frame k shows the source frame nearest to time k / 25
    t = np.arange(plan.frames) / 25
    assert np.all(np.abs(plan.indices / plan.source_fps - t) <= 0.5 / plan.source_fps + 1e-9)
    assert plan.resampled
    batches = list(iter_frame_batches(SHARED_REAL / name, plan, 64))
    assert sum(len(b) for _, b in batches) == plan.frames
    x = preprocess(batches[0][1], 256, 224)
    assert tuple(x.shape) == (min(64, plan.frames), 3, 224, 224) and x.min() >= -1 and x.max() <= 1 and x.std() > 0.05


def test_grid_identity_at_25fps():
    assert np.array_equal(grid_indices(10, 25.0, 25), np.arange(10))
    assert len(grid_indices(300, 30.0, 25)) == 250


@needs_real
def test_face_crop_on_real_video():
    path = SHARED_REAL / "single_face.mp4"
    plan = plan_grid(path, 25)
    box = face_box(path, plan, margin=1.4)
    assert box is not None
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360 and abs((x1 - x0) - (y1 - y0)) <= 2
    assert face_box(SHARED_REAL / "no_face.mp4", plan_grid(SHARED_REAL / "no_face.mp4", 25), 1.4) is None
    frames = next(iter_frame_batches(path, plan, 4))[1]
    assert tuple(preprocess(frames, 256, 224, box).shape) == (4, 3, 224, 224)


@needs_real
def test_real_speech_mfcc_and_wav2vec2_alignment(tmp_path):
    wav = SHARED_REAL / "sense_and_sensibility_01_austen_64kb-0870.wav"
    mono, sr, seconds = load_audio(wav, 16000)
    assert sr == 16000
    frames = int(seconds * 25)  # a video of this many frames: audio differs by < 1 frame
    audio = align_audio(wav, frames, 25, 16000)
    assert len(audio.samples) == frames * 640 and not audio.silent
    m = mfcc_per_frame(audio, 26, 26, True)
    assert m.shape == (frames, 26) and np.isfinite(m).all()
    model, norm = load_wav2vec2(str(save_tiny_wav2vec2(tmp_path / "w2v")))
    w = wav2vec2_per_frame(model, norm, audio)
    assert w.shape == (frames, 1536) and np.isfinite(w).all()
    # chunked processing keeps the frame count
    assert wav2vec2_per_frame(model, norm, audio, max_seconds=1.0).shape == (frames, 1536)
    # speech and pauses differ frame to frame; with Kaldi's int16 scale the energy coefficient shows it too
    assert m[:, 1].std() > 1.0
    assert mfcc_per_frame(audio, 26, 26, True, waveform_scale=32768.0)[:, 0].std() > 1.0


def test_audio_resampled_from_other_rates(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "a.wav"
    sf.write(p, rng.normal(0, 0.1, (44100 * 2, 2)).astype(np.float32), 44100)  # stereo 44.1 kHz, 2 s
    audio = align_audio(p, 50, 25, 16000)
    assert audio.source_rate == 44100 and len(audio.samples) == 32000 and abs(audio.adjusted_samples) <= 640


def test_audio_length_rules(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, np.random.default_rng(0).normal(0, 0.1, 16000 * 2).astype(np.float32), 16000)  # 50 frames
    assert align_audio(p, 51, 25, 16000).adjusted_samples == 640  # padded by one frame
    assert align_audio(p, 49, 25, 16000).adjusted_samples == -640  # trimmed by one frame
    with pytest.raises(DataError, match=r"a.wav: audio is 50.00 frames long, video 60 frames"):
        align_audio(p, 60, 25, 16000)
    with pytest.raises(DataError, match="missing"):
        align_audio(tmp_path / "none.wav", 50, 25, 16000)


def test_silent_audio_is_flagged(tmp_path, caplog):
    p = tmp_path / "s.wav"
    sf.write(p, np.zeros(16000, np.float32), 16000)
    audio = align_audio(p, 25, 25, 16000)
    assert audio.silent and "silent" in caplog.text
    assert np.isfinite(mfcc_per_frame(audio, 26, 26, True)).all()


def test_missing_wav2vec2_folder_names_what_to_put(tmp_path):
    with pytest.raises(WeightsError, match=r"features.wav2vec2.model_dir: .*no config.json. Put the facebook/wav2vec2-base-960h folder"):
        load_wav2vec2(str(tmp_path / "nowhere"))
