"""The FraudPipeline contract: the spec model, the names it implies, the status shape.

Everyone who deals with a pipeline depends on this package (the operator that reconciles it, the
producer and the lake that use its topics and sink, the API that reads its rules and status, the
local demo that applies one); it depends on none of them.
"""
