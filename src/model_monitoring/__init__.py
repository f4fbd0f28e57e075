"""Model monitoring: drift of the model's inputs and score against its training window."""
