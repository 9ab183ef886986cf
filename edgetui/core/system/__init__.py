"""The machine as it runs: GPUs through NVML, process and system memory and CPU, tokens per second."""
