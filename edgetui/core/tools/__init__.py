"""Tools around models: llama-bench-style benchmarks, quantization with llama.cpp's quantizer, a local server."""
