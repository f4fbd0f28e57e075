"""The scoring service (FastAPI): real-time fraud scores with reasons, model hot reload, metrics.

`main.create_app` assembles the app; `routers/` holds one router per resource; the scoring hot path
is `scoring.ScoringService` over an immutable `bundle.ModelBundle`. Never imports torch.
"""
