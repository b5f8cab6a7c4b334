"""The README's main job: robot data → train the tiny world model on CPU → convert → evaluate.

The data are MuJoCo robot-arm episodes (scripts/prepare_sim_data.py, experiment ``tiny_action_conditioned_sim``)
when the simulator and its renderer are installed, else the synthetic 2D scene (scripts/prepare_synthetic_data.py,
``tiny_action_conditioned_bridge``); ``--data sim|synthetic`` chooses explicitly. Each step is one of the project's own command lines, run in order and printed before it runs, so
the output doubles as a recipe. Training resumes from the latest checkpoint when re-run.

    python -m scripts.quickstart                 # the full recipe (numbers in BENCHMARKS.md)
    python -m scripts.quickstart --max_iter 50   # a short demo
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# --data choice -> (experiment, data folder, command that makes the data there)
DATA = {
    "sim": ("tiny_action_conditioned_sim", "datasets/sim_bridge", ["-m", "scripts.prepare_sim_data", "--out"]),
    "synthetic": ("tiny_action_conditioned_bridge", "datasets/synthetic_bridge",
                  ["-m", "scripts.prepare_synthetic_data", "--layout", "bridge", "--out"]),
}


def run(cmd: list[str], env: dict | None = None) -> None:
    print(f"\n$ {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if proc.returncode != 0:
        sys.exit(f"quickstart: step failed with exit code {proc.returncode}: {' '.join(cmd)}")


def choose_data(choice: str) -> str:
    """``auto`` -> ``sim`` when the simulator can render here, else ``synthetic`` (printing why)."""
    if choice != "auto":
        return choice
    from cosmos_predict2.data.sim_env import SimUnavailable, require_simulator

    try:
        require_simulator()
    except SimUnavailable as e:
        print(f"quickstart: using the synthetic scene: {e}", flush=True)
        return "synthetic"
    return "sim"


def data_complete(data: str, data_dir: str) -> bool:
    """Whether ``data_dir`` holds a finished dataset (the simulator's writer marks it in dataset_info.json)."""
    import json

    if data == "synthetic":
        return os.path.isdir(os.path.join(ROOT, data_dir, "annotation", "train"))
    try:
        with open(os.path.join(ROOT, data_dir, "dataset_info.json")) as f:
            return bool(json.load(f).get("complete"))
    except (OSError, ValueError):
        return False


def warn_if_other_scene(data_dir: str) -> None:
    """Say so when existing synthetic data was made with other scene settings than the recipe expects."""
    import json

    from cosmos_predict2.data.synthetic import SyntheticConfig

    path = os.path.join(ROOT, data_dir, "synthetic_info.json")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        made = json.load(f).get("config", {})
    want = SyntheticConfig()
    diff = {k: (made.get(k), getattr(want, k)) for k in ("yaw_range", "gripper_scale", "height", "width", "frames")
            if made.get(k) != getattr(want, k)}
    if diff:
        print(f"quickstart: warning: {path} was made with " + ", ".join(f"{k}={a} (recipe: {b})" for k, (a, b) in
              diff.items()) + f"; the recorded numbers assume the defaults. Delete {data_dir} to regenerate it.",
              flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max_iter", "--max-iter", type=int, default=None, help="training iterations (default: the recipe's)")
    p.add_argument("--data", choices=["auto", "sim", "synthetic"], default="auto",
                   help="MuJoCo robot-arm episodes (sim), the synthetic 2D scene, or sim when it is installed (auto)")
    p.add_argument("--data-dir", default=None, help="Bridge-layout data (made if missing; default: by --data)")
    p.add_argument("--episodes", type=int, default=160, help="training episodes to generate when the data is missing")
    p.add_argument("--nproc", type=int, default=1, help="training processes (torchrun, gloo) ")
    p.add_argument("--eval-steps", type=int, default=None, help="sampling steps during evaluation")
    p.add_argument("--max-episodes", type=int, default=None, help="evaluate at most this many test episodes")
    p.add_argument("--output-dir", default="outputs/quickstart", help="evaluation report folder")
    p.add_argument("--job-name", default=None, help="job.name override (default: the experiment's; demo runs use *_demo)")
    p.add_argument("--skip-train", action="store_true", help="evaluate the latest checkpoint only")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    py = sys.executable
    start = time.time()
    data = choose_data(args.data)
    experiment, default_dir, make_data = DATA[data]
    data_dir = args.data_dir or default_dir
    print(f"quickstart: data: {data} ({data_dir}), experiment {experiment}", flush=True)
    if not data_complete(data, data_dir):
        run([py, *make_data, data_dir, "--episodes", str(args.episodes)])  # the sim writer resumes a partial run
    elif data == "synthetic":
        warn_if_other_scene(data_dir)
    job_name = args.job_name or (f"{experiment}_demo" if args.max_iter is not None else experiment)
    overrides = [f"experiment={experiment}", f"job.name={job_name}",
                 f"dataloader_train.dataset.dataset_dir={data_dir}", f"dataloader_val.dataset.dataset_dir={data_dir}"]
    if args.max_iter is not None:
        overrides += [f"trainer.max_iter={args.max_iter}", f"checkpoint.save_iter={max(1, args.max_iter)}"]
    from cosmos_predict2.utils.hardware import cpu_has_native_bf16

    if not cpu_has_native_bf16():  # bf16 matmuls would run ~100x slower than fp32 here
        print("quickstart: this CPU has no native bfloat16 (AVX512_BF16 / AMX): training in float32")
        overrides.append("model.config.precision=float32")
    train_start = time.time()
    if not args.skip_train:
        if args.nproc > 1:
            cmd = [py, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
                   "-m", "scripts.train", "--", *overrides]
        else:
            cmd = [py, "-m", "scripts.train", "--", *overrides]
        run(cmd)
    train_minutes = (time.time() - train_start) / 60

    from cosmos_predict2.configs.schema import output_root

    ckpt_root = os.path.join(output_root(), "cosmos_predict2_tiny", "action_conditioned", job_name, "checkpoints")
    latest_file = os.path.join(ROOT, ckpt_root, "latest_checkpoint.txt")
    if not os.path.isfile(latest_file):
        sys.exit(f"quickstart: no checkpoint found ({latest_file} is missing); train first")
    with open(latest_file) as f:
        ckpt_dir = os.path.join(ckpt_root, f.read().strip())
    run([py, "scripts/convert_distcp_to_pt.py", os.path.join(ckpt_dir, "model"), ckpt_dir])
    evaluate = [py, "scripts/evaluate_action_conditioned.py", "--checkpoint-path",
                os.path.join(ckpt_dir, "model_ema_fp32.pt"), "--experiment", experiment, "--dataset-dir", data_dir,
                "--split", "test", "--protocol", "both", "--output-dir", args.output_dir]
    if args.eval_steps is not None:
        evaluate += ["--num-steps", str(args.eval_steps)]
    if args.max_episodes is not None:
        evaluate += ["--max-episodes", str(args.max_episodes)]
    run(evaluate)
    print(f"\nquickstart: done in {(time.time() - start) / 60:.1f} min (training {train_minutes:.1f} min) on the "
          f"{data} data ({data_dir}); checkpoint {ckpt_dir}; report {args.output_dir}/summary.json; next (rollout "
          f"videos): python examples/action_conditioned.py -i assets/action_conditioned/basic/inference_params.json "
          f"-o outputs/action_conditioned/{data} --checkpoint-path {os.path.join(ckpt_dir, 'model_ema_fp32.pt')} "
          f"--experiment {experiment} --input_root {data_dir} --num_steps 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
