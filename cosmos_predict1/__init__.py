"""Compatibility entry points for the Predict1 command lines (they run this framework's pipeline)."""
