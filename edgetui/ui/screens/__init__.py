"""Screens and modal dialogs of the edgetui app."""
