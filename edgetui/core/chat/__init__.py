"""A chat session: its conversation (branches, streamed answers saved as they come) and how an answer's figures read."""
