"""The fraud model: features, graph embeddings, XGBoost, evaluation and the model registry.

Serving imports only `features`, `online`, `embed_numpy` and `registry` (numpy + xgboost, never
torch); training (`batch_features`, `graph`, `train`, `cli`) may use pandas and torch.
"""
