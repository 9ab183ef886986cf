"""edgetui: a keyboard-driven terminal workstation for running language models locally."""

__version__ = "0.1.0"
