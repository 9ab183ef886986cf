"""The compare screen: two models side by side, their columns and summary, the model picker, the runs behind it."""
