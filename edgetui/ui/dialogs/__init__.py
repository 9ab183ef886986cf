"""Modal dialogs: confirm, input, session settings, quantize, help."""
