"""The broker model: plain synchronous Python, no I/O."""
