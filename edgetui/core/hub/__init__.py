"""The Hugging Face Hub: search, file names and specs, resumable downloads into the shared cache, its errors."""
