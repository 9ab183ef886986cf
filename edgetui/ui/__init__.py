"""The Textual user interface of edgetui: the app, its messages, and one package per feature."""
