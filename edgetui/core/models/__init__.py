"""Models on this machine: where they live, the catalog, the bundled default, and whether one fits in memory."""
