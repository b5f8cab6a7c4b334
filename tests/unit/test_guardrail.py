"""Guardrail / prompt refiner: optional, local, and a one-line error naming the disable flag when missing."""

from __future__ import annotations

import pytest

from cosmos_predict2.guardrail.components import PromptRefiner, setup_guardrail, setup_prompt_refiner
from cosmos_predict2.guardrail.errors import OptionalComponentError


def test_disabled_components_are_none():
    assert setup_guardrail(True) is None and setup_prompt_refiner(True) is None


def test_missing_components_name_the_flag(tmp_path):
    with pytest.raises(OptionalComponentError, match="--disable_guardrail") as e:
        setup_guardrail(False, str(tmp_path / "nothing"))
    assert "nothing" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(OptionalComponentError, match="--disable_prompt_refiner"):
        setup_prompt_refiner(False, str(tmp_path))


def test_blocklist_whole_words_case_insensitive(tmp_path):
    (tmp_path / "blocklist").mkdir()
    (tmp_path / "blocklist" / "a.txt").write_text("# comment\nbadword\nmulti word\n")
    (tmp_path / "blocklist" / "b.txt").write_text("Other\n")
    g = setup_guardrail(False, str(tmp_path))
    assert g.classifier_dir is None
    assert g.is_safe("A robot picks up a cup") == (True, "")
    assert not g.is_safe("a BADWORD appears")[0]
    assert not g.is_safe("this has multi   word? no: multi word yes")[0]
    assert not g.is_safe("other")[0]
    assert g.is_safe("badwords and others are different words")[0]  # whole words only


def test_refiner_from_local_folder_is_lazy(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    r = setup_prompt_refiner(False, str(tmp_path))
    assert isinstance(r, PromptRefiner) and r._m is None  # nothing loaded until the first refine()


def test_nested_blocklist_files_without_extension(tmp_path):
    (tmp_path / "blocklist" / "exact_match").mkdir(parents=True)
    (tmp_path / "blocklist" / "exact_match" / "terms").write_text("nastything\n")
    (tmp_path / "blocklist" / "bin.dat").write_bytes(b"\xff\xfe\x00\x81")
    g = setup_guardrail(False, str(tmp_path))
    assert not g.is_safe("a NastyThing")[0] and g.is_safe("a nice thing")[0]
