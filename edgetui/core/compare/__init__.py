"""Two models side by side: runs, their records and export, and quality loss (perplexity, KL divergence)."""
