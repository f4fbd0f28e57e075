"""Code shared by several parts of the platform (names, tokenization)."""
