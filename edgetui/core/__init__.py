"""Headless services of edgetui; nothing here imports textual or rich."""
