"""The scoring core: a transaction in, a decision out, the same way on every path.

Model bundles and their hot swap (`bundle`), the compiled tree walk (`trees`), the online feature
and rule-window state (`state`, `rules`), the batch scorer (`core`) and the contract it speaks
(`models`). The API's `/v1/score` and the stream scorer both call it; it imports neither, and
never torch or pandas.
"""
