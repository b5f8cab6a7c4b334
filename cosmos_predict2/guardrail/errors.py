"""Error raised when an optional component (guardrail, prompt refiner, critic) is requested but unavailable."""


class OptionalComponentError(ValueError):
    """One line: which component, where it was looked for, and the flag that disables it."""
