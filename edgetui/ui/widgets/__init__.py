"""Widgets shared by the features: gauges, the key footer, figure lines, plain (untrusted) text, a stable scroll."""
