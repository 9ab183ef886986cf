"""The Textual user interface of edgetui: app factory, screens and widgets."""
