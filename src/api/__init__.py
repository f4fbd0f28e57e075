"""The scoring service (FastAPI): real-time fraud scores with reasons, model hot reload, metrics.

`main.create_app` assembles the app from the one settings object (`settings.ApiSettings`, validated
at start-up). `routers/` holds one thin router per resource, and every router follows one pattern:
request and response shapes in `models` (around the scoring contract, `fraudlake.scoring.models`),
errors as types in `errors` (each with its status code, mapped to responses in one place), and what
it needs from the process (`services.Services`) through the `Annotated` dependencies of `deps`.
The scoring hot path is `fraudlake.scoring`; nothing here imports torch.
"""
