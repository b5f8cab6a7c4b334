"""``torchrun -m cosmos_predict1.diffusion.training.train --config=... -- experiment=...`` (Predict1 spelling)."""

import sys

from scripts.train import main

if __name__ == "__main__":
    sys.exit(main())
