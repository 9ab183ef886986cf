"""Full screens that are not a feature of their own: the main screen (chat, catalog, gauges), sessions, bench."""
