"""GGUF files: reading and checking a file's header (bounds-checked), split models, the header cache, file types."""
