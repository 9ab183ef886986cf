"""The model catalog: its pane, a model's details, the Hub screen, and loading and deleting models."""
