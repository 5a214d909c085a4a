"""Command-line tools: python -m scripts.<name>."""
