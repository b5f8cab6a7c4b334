"""Optional safety guardrail and prompt refiner, loaded from local paths (see guardrail/components.py)."""
