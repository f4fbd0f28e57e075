"""The fraud-analyst agent: ChromaDB case index, guarded read-only SQL, scoring, Bedrock or offline answers.

Nothing here is imported by the scoring path: torch (for the offline MiniLM embeddings) and the LLM
clients load lazily on the first chat request.
"""
