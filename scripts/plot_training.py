"""Plot a training run's loss curve from its metrics.jsonl (what training writes at the end as loss_curve.png).

    python -m scripts.plot_training <job_dir or metrics.jsonl> [--out PNG]

Training loss by iteration (raw + smoothed), validation loss when present, and panels with the
``action_monitor/*`` series when the run logged them (cosmos_predict2/trainer/loss_curve.py). ``--out`` defaults
to ``loss_curve.png`` beside the metrics file. Prints one summary line ending with the PNG's path; malformed
lines are skipped and counted there. A missing file or one without training losses: one error line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cosmos_predict2.trainer.loss_curve import LossCurveError, write_loss_curve


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="training job folder (holding metrics.jsonl) or a metrics.jsonl file")
    p.add_argument("--out", default=None, help="PNG to write (default: loss_curve.png beside the metrics file)")
    a = p.parse_args(argv)
    metrics = os.path.join(a.path, "metrics.jsonl") if os.path.isdir(a.path) else a.path
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(metrics)), "loss_curve.png")
    try:
        summary = write_loss_curve(metrics, out)
    except (LossCurveError, OSError) as err:
        print(f"plot_training: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(f"{summary}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
