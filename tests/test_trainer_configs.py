"""Trainers take typed configs: the command line parses into exactly the config code would build,
so a default lives in one place (the dataclass) and code never passes argv strings."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from training import train_age_gender_tf as age
from training import train_face_recognition_tf as rec
from training import train_verifier as ver
from training.config import TrainerSettings


def test_recognition_command_line_is_the_config():
    assert rec.parse_args([]) == rec.RecognitionConfig()
    parsed = rec.parse_args(["--max-people", "60", "--max-images", "6", "--epochs", "5", "--lfw-pairs", "200",
                             "--no-register", "--seed", "3"])
    assert parsed == rec.RecognitionConfig(max_people=60, max_images=6, epochs=5, lfw_pairs=200, no_register=True,
                                           seed=3)
    with pytest.raises(FrozenInstanceError):
        parsed.epochs = 1


def test_verifier_command_lines_are_the_configs():
    assert ver.parse_args(["general"]) == ver.GeneralConfig()
    assert ver.parse_args(["general", "--max-pairs", "150"]) == ver.GeneralConfig(max_pairs=150)
    parsed = ver.parse_args(["personal", "--positive", "me/", "--name", "Me", "--impostor-people", "0"])
    assert parsed == ver.PersonalConfig(positive="me/", name="Me", impostor_people=0)
    assert (parsed.kind, ver.GeneralConfig().kind) == ("personal", "general")
    with pytest.raises(SystemExit):
        ver.parse_args(["personal", "--name", "Me"])  # --positive is required


def test_age_gender_command_line_is_the_config_with_the_settings_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRAINER_SEED", "7")
    settings = TrainerSettings()
    assert age.parse_args([]) == age.AgeGenderConfig().resolved(settings)
    resolved = age.AgeGenderConfig(limit=40).resolved(settings)
    assert resolved.src == tmp_path.resolve() / "utkface" / "crop_part1" and resolved.seed == 7
    assert age.AgeGenderConfig(src=Path("x"), seed=1).resolved(settings).src == Path("x")
    assert age.parse_args(["--designs", "features", "--members", "2"]).members == 2
