"""The chat: its pane, the message list and views, the streaming tail, Markdown and code blocks, the prompt."""
