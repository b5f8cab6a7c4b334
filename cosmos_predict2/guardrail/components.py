"""Guardrail (text blocklist + optional Llama-Guard-style classifier) and prompt refiner, from local paths.

Both are optional. The example scripts call :func:`setup_guardrail` / :func:`setup_prompt_refiner` before any
model is built; when a component is enabled but its files are not there, they fail at once with a one-line
message naming the path and the flag that turns it off (``--disable_guardrail``, ``--disable_prompt_refiner``),
instead of failing deep inside generation.

Local layout (what ``scripts/download_checkpoints.py --model_types Guardrail`` would fetch):
- guardrail: ``<checkpoint_dir>/nvidia/Cosmos-Guardrail1`` holding ``blocklist/`` (text files, nested folders
  allowed, one word or phrase a line) and optionally ``llamaguard/`` (a transformers causal-LM folder for text safety classification);
- prompt refiner: ``<checkpoint_dir>/nvidia/Cosmos-Reason1-7B`` (a transformers vision-language model folder).
"""

from __future__ import annotations

import glob
import os
import re
from typing import Optional

from cosmos_predict2.guardrail.errors import OptionalComponentError

DEFAULT_GUARDRAIL_DIR = "checkpoints/nvidia/Cosmos-Guardrail1"
DEFAULT_REFINER_DIR = "checkpoints/nvidia/Cosmos-Reason1-7B"


class TextGuardrail:
    """Blocks prompts containing a blocklisted word/phrase (whole-word, case-insensitive); optionally asks a
    local safety classifier (transformers causal LM prompted for 'safe'/'unsafe')."""

    def __init__(self, blocklist: list[str], classifier_dir: Optional[str] = None):
        self.blocklist = sorted({w.strip().lower() for w in blocklist if w.strip()})
        self._pattern = (re.compile(r"\b(" + "|".join(re.escape(w) for w in self.blocklist) + r")\b", re.IGNORECASE)
                         if self.blocklist else None)
        self.classifier_dir = classifier_dir
        self._clf = None

    def _classify(self, prompt: str) -> bool:
        if not self.classifier_dir:
            return True
        if self._clf is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(self.classifier_dir, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.classifier_dir, local_files_only=True).eval()
            self._clf = (tok, model)
        tok, model = self._clf
        chat = [{"role": "user", "content": prompt}]
        ids = tok.apply_chat_template(chat, return_tensors="pt")
        out = model.generate(ids, max_new_tokens=10, do_sample=False)
        verdict = tok.decode(out[0, ids.shape[-1]:], skip_special_tokens=True).strip().lower()
        return not verdict.startswith("unsafe")

    def is_safe(self, prompt: str) -> tuple[bool, str]:
        """(safe, reason)."""
        if self._pattern is not None:
            m = self._pattern.search(prompt or "")
            if m:
                return False, f"blocklisted term {m.group(1)!r}"
        if not self._classify(prompt or ""):
            return False, "the safety classifier flagged the prompt"
        return True, ""


def setup_guardrail(disabled: bool, guardrail_dir: Optional[str] = None) -> Optional[TextGuardrail]:
    """None when disabled; else the guardrail from ``guardrail_dir`` (OptionalComponentError if absent)."""
    if disabled:
        return None
    path = guardrail_dir or DEFAULT_GUARDRAIL_DIR
    files = sorted(f for f in glob.glob(os.path.join(path, "blocklist", "**", "*"), recursive=True)
                   if os.path.isfile(f) and os.path.getsize(f) < 16 * 2**20)
    if not files:
        raise OptionalComponentError(
            f"guardrail enabled but no guardrail files at {path} (expected a blocklist/ folder of word lists); "
            "download them (scripts/download_checkpoints.py --model_types Guardrail) or pass --disable_guardrail")
    words: list[str] = []
    for f in files:  # every text file under blocklist/ (any extension, nested folders): one word or phrase a line
        try:
            with open(f, encoding="utf-8") as fh:
                words += [line.strip() for line in fh if line.strip() and not line.startswith("#")]
        except UnicodeDecodeError:
            continue
    clf = os.path.join(path, "llamaguard")
    return TextGuardrail(words, clf if os.path.isfile(os.path.join(clf, "config.json")) else None)


class PromptRefiner:
    """Rewrites a short prompt into a detailed one with a local instruction-tuned VLM/LLM (transformers)."""

    INSTRUCTION = ("Rewrite the following video description into one detailed paragraph describing the scene, the "
                   "objects and the motion, without adding new events: ")

    def __init__(self, model_dir: str, max_new_tokens: int = 512):
        self.model_dir = model_dir
        self.max_new_tokens = max_new_tokens
        self._m = None

    def refine(self, prompt: str) -> str:
        if self._m is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True).eval()
            self._m = (tok, model)
        tok, model = self._m
        ids = tok.apply_chat_template([{"role": "user", "content": self.INSTRUCTION + prompt}], return_tensors="pt",
                                      add_generation_prompt=True)
        out = model.generate(ids, max_new_tokens=self.max_new_tokens, do_sample=False)
        text = tok.decode(out[0, ids.shape[-1]:], skip_special_tokens=True).strip()
        return text or prompt


def setup_prompt_refiner(disabled: bool, refiner_dir: Optional[str] = None) -> Optional[PromptRefiner]:
    """None when disabled; else the refiner from ``refiner_dir`` (OptionalComponentError if absent)."""
    if disabled:
        return None
    path = refiner_dir or DEFAULT_REFINER_DIR
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise OptionalComponentError(
            f"prompt refiner enabled but no model at {path} (no config.json); download Cosmos-Reason1-7B there or "
            "pass --disable_prompt_refiner")
    return PromptRefiner(path)
