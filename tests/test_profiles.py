"""Listener profiles: personality tables and the seeded choice of a history clip."""

from __future__ import annotations

import numpy as np
import pytest

from mafrg.data.profiles import TRAITS, pick_history, read_personality
from mafrg.errors import DataError

CLIPS = [f"listener/session{s}/clip{s}{k}" for s in (1, 2) for k in range(4)] + ["speaker/session1/clip10"]


def test_personality_tables_are_read_and_normalised(tmp_path):
    f = tmp_path / "listener.csv"
    f.write_text("\ufeffvideo_name,session,Extraversion,Agreeableness,Conscientiousness,Neuroticism,Openness\n"
                 "clip10.mp4,session1,1,2,3,4,5\nclip20,session2,5,5,5,5,5\n")
    p = read_personality(f)
    assert set(p) == {("session1", "clip10"), ("session2", "clip20")}  # keyed by (session, stem)
    assert np.allclose(p[("session1", "clip10")], [0, 0.25, 0.5, 0.75, 1]) and p[("session1", "clip10")].dtype == np.float32
    f.write_text("video_name,session," + ",".join(TRAITS) + "\nclip10,session1,1,2,3,4,6\n")
    with pytest.raises(DataError, match=r"listener.csv: trait Openness of data row 1 is missing, not a number or "
                                        r"outside 1-5"):
        read_personality(f)
    f.write_text("video_name,session," + ",".join(TRAITS) + "\nclip10,session1,1,2,3,4,5\nclip10.mp4,session1,1,1,1,1,1\n")
    with pytest.raises(DataError, match="two rows for session session1, clip clip10"):
        read_personality(f)


def test_the_official_rule_draws_another_clip_of_the_same_role_and_session():
    target = "listener/session1/clip10"
    picks = {pick_history(target, CLIPS, seed) for seed in range(40)}
    assert picks == {"listener/session1/clip11", "listener/session1/clip12", "listener/session1/clip13"}
    assert pick_history(target, CLIPS, 3) == pick_history(target, list(reversed(CLIPS)), 3)  # order-free
    assert pick_history("speaker/session1/clip10", CLIPS, 0) == "speaker/session1/clip10"  # alone: itself
    with pytest.raises(ValueError, match="history rule 'nearest'"):
        pick_history(target, CLIPS, 0, "nearest")


def test_the_same_person_rule_follows_the_big_five_vector_across_sessions():
    person = np.array([0.1, 0.2, 0.3, 0.4, 0.5], np.float32)
    personality = {(c.split("/")[1], c.split("/")[2]): np.full(5, 0.9, np.float32) for c in CLIPS}
    for c in ("listener/session1/clip10", "listener/session2/clip23"):  # one person seen in two sessions
        personality[tuple(c.split("/")[1:])] = person
    assert pick_history("listener/session1/clip10", CLIPS, 0, "same_person", personality) == "listener/session2/clip23"
    # a listener with nobody of the same vector: the official rule
    lone = "listener/session1/clip11"
    personality[("session1", "clip11")] = np.full(5, 0.7, np.float32)
    assert pick_history(lone, CLIPS, 5, "same_person", personality) == pick_history(lone, CLIPS, 5, "official")
    assert pick_history(lone, CLIPS, 5, "same_person", None) == pick_history(lone, CLIPS, 5)
