"""Build the batch-input JSON read by `--batch_input_json` of the examples.

    python -m scripts.prepare_batch_input_json --dataset_path dream_gen_benchmark/gr1_object/ \
        --save_path output/dream_gen_benchmark/gr1_object/ --output_path dream_gen_benchmark/gr1_object/batch_input.json

For every *.jpg / *.png in dataset_path, the prompt is the sibling `<stem>.txt` (falling back to
`<stem>..txt`, a naming slip in the benchmark). Writes a JSON list of
{"input_video": image, "prompt": text, "output_video": <save_path>/<stem>.mp4}.
A missing folder, or one without any image that has a prompt, is one ``error:`` line and exit code 2
(no JSON is written).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm


def build_entries(dataset_path: str, save_path: str) -> tuple[list[dict], list[str]]:
    """Returns (entries, images_without_prompt)."""
    images = sorted(glob.glob(os.path.join(dataset_path, "*.jpg")) + glob.glob(os.path.join(dataset_path, "*.png")))
    entries, missing = [], []
    for img in tqdm(images, desc="images", unit="img", disable=None):  # no bar when not on a terminal
        stem = os.path.splitext(img)[0]
        txt = next((c for c in (stem + ".txt", stem + "..txt") if os.path.isfile(c)), None)
        if txt is None:
            missing.append(img)
            continue
        with open(txt, encoding="utf-8") as f:
            prompt = f.read().strip()
        entries.append({"input_video": img, "prompt": prompt,
                        "output_video": os.path.join(save_path, os.path.basename(stem) + ".mp4")})
    return entries, missing


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset_path", required=True)
    p.add_argument("--save_path", required=True, help="folder the generated videos will go to")
    p.add_argument("--output_path", required=True, help="the JSON file to write")
    a = p.parse_args(argv)
    if not os.path.isdir(a.dataset_path):
        print(f"error: --dataset_path {a.dataset_path} is not a folder; pass the folder that holds the *.jpg / *.png "
              f"inputs and their <stem>.txt prompts", file=sys.stderr)
        return 2
    entries, missing = build_entries(a.dataset_path, a.save_path)
    if not entries:  # nothing usable: do not write an empty list the examples would run through silently
        what = (f"none of its {len(missing)} image(s) has a prompt <stem>.txt (e.g. {os.path.basename(missing[0])})"
                if missing else "it holds no *.jpg / *.png images")
        print(f"error: --dataset_path {a.dataset_path} has no usable inputs: {what}; add an image with a "
              f"<stem>.txt prompt next to it (nothing written to {a.output_path})", file=sys.stderr)
        return 2
    for m in missing:
        print(f"warning: no prompt .txt for {m}; skipped")
    os.makedirs(os.path.dirname(os.path.abspath(a.output_path)), exist_ok=True)
    with open(a.output_path, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=2)
    print(f"done: {len(entries)} entries written to {a.output_path} ({len(missing)} images without prompt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
