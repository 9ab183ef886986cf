"""Widgets of the edgetui app: catalog, chat, gauges."""
