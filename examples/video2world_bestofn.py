"""Best-of-N (rejection sampling): generate N videos with seeds seed..seed+N-1, score each with a critic, rank.

    python -m examples.video2world_bestofn --model_size 14B --gr00t_variant gr1 --prompt "..." \
        --input_path frame.png --num_generations 4 --save_path output/best-of-n [--checkpoint_dir Reason1 dir]
        [--critic auto|vlm|heuristic] [--skip_generation]

Writes ``<save_path>/<name>_seed<S>.mp4``, a ``<video>_score<pct:03d>.json`` per video and
``<save_path>/report.html`` ranking them. ``--skip_generation`` scores the mp4 files already in save_path.
Critics: cosmos_predict2/inference/critic.py (a local VLM, or a built-in offline heuristic critic); which one ranked
is printed in the summary line and stored as ``ranked_by`` in each score JSON and the report.
"""

from __future__ import annotations

import argparse
import glob
import html
import json
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def write_report(save_dir: str, rows: list[dict], prompt: str) -> str:
    """An HTML page with the videos ranked by score (best first)."""
    rows = sorted(rows, key=lambda r: r["score"], reverse=True)
    ranked_by = ", ".join(sorted({r.get("ranked_by", r["critic"]) for r in rows}))
    lines = ["<!doctype html><html><head><meta charset='utf-8'><title>best-of-N report</title></head><body>",
             f"<h1>Best-of-{len(rows)}</h1><p>Prompt: {html.escape(prompt)}</p>",
             f"<p>Ranked by: {html.escape(ranked_by)}</p>",
             "<table border='1' cellpadding='4'><tr><th>rank</th><th>video</th><th>score</th><th>critic</th>"
             "<th>details</th></tr>"]
    for i, r in enumerate(rows):
        rel = os.path.relpath(r["video"], save_dir)
        details = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                   if k not in ("video", "score", "critic", "ranked_by", "responses", "prompt")}
        lines.append(f"<tr><td>{i + 1}</td><td><video src='{html.escape(rel)}' controls width='320'></video><br>"
                     f"{html.escape(rel)}</td><td>{r['score']:.3f}</td><td>{html.escape(r['critic'])}</td>"
                     f"<td><code>{html.escape(json.dumps(details))}</code></td></tr>")
    lines.append("</table></body></html>")
    path = os.path.join(save_dir, "report.html")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def score_videos(critic, videos: list[str], prompt: str, seeds: dict[str, int]) -> list[dict]:
    rows = []
    for v in videos:
        for old in glob.glob(os.path.splitext(v)[0] + "_score*.json"):
            os.remove(old)
        result = critic.score(v, prompt)
        row = {"video": v, "seed": seeds.get(v), "prompt": prompt, **result, "ranked_by": critic.description}
        pct = int(round(100 * row["score"]))
        with open(f"{os.path.splitext(v)[0]}_score{pct:03d}.json", "w") as f:
            json.dump(row, f, indent=1)
        rows.append(row)
        print(f"{os.path.basename(v)}: score {row['score']:.3f} ({row['critic']})")
    return rows


def main(argv=None) -> int:
    from cosmos_predict2.data.video_io import write_video
    from cosmos_predict2.inference.critic import make_critic
    from cosmos_predict2.inference.loading import InferenceSetupError
    from cosmos_predict2.inference.video2world_cli import add_video2world_args, build_pipeline
    from examples.video2world_gr00t import add_gr00t_args, apply_gr00t_defaults

    parser = add_video2world_args(argparse.ArgumentParser(prog="video2world_bestofn.py",
                                                          description=__doc__.split("\n\n")[0]))
    add_gr00t_args(parser, required=False)
    parser.set_defaults(prompt_prefix="", save_path="output/best-of-n")
    parser.add_argument("--num_generations", type=int, default=2)
    parser.add_argument("--skip_generation", action="store_true")
    parser.add_argument("--num_critic_trials", type=int, default=5)
    parser.add_argument("--checkpoint_dir", default=None, help="local critic VLM folder (e.g. Cosmos-Reason1-7B)")
    parser.add_argument("--critic", default="auto", choices=("auto", "vlm", "heuristic"))
    args = parser.parse_args(argv)
    save_dir = args.save_path
    critic = make_critic(args.critic, args.checkpoint_dir, args.num_critic_trials)  # fail early when missing
    prompt = args.prompt_prefix + args.prompt
    seeds: dict[str, int] = {}
    if args.skip_generation:
        videos = sorted(glob.glob(os.path.join(save_dir, "*.mp4")))
        if not videos:
            raise InferenceSetupError(f"--skip_generation: no .mp4 files in {save_dir}")
    else:
        if not args.input_path:
            raise InferenceSetupError("pass --input_path (image or video), or --skip_generation")
        experiment, resolution = (apply_gr00t_defaults(args) if args.gr00t_variant else (None, None))
        pipe, rank = build_pipeline(args, resolution=resolution, experiment=experiment)
        prompt = pipe.check_prompt(prompt)
        name = os.path.splitext(os.path.basename(args.input_path))[0][:40] or "video"
        videos = []
        for i in range(args.num_generations):
            seed = args.seed + i
            video = pipe(args.input_path, prompt, negative_prompt=args.negative_prompt,
                         num_conditional_frames=args.num_conditional_frames, guidance=args.guidance, seed=seed,
                         num_steps=args.num_steps)
            path = os.path.join(save_dir, f"{name}_seed{seed}.mp4")
            if rank == 0:
                write_video(path, video, fps=args.fps or pipe.fps)
            videos.append(path)
            seeds[path] = seed
        if rank != 0:
            return 0
    rows = score_videos(critic, videos, prompt, seeds)
    report = write_report(save_dir, rows, prompt)
    best = max(rows, key=lambda r: r["score"])
    print(f"best: {best['video']} (score {best['score']:.3f}); ranked by: {critic.description}; report: {report}")
    return 0


if __name__ == "__main__":
    from cosmos_predict2.inference.cli import run_main

    sys.exit(run_main(main, "video2world_bestofn.py"))
