"""Engines that generate text: the Engine protocol, llama.cpp in-process on its one thread, a child-process
runner, an OpenAI-compatible remote endpoint."""
