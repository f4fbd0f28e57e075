"""The production footprint's checks: Helm charts, Terraform, Dockerfiles (see docs/deploy.md).

The footprint itself lives outside the package (helm/, terraform/, Dockerfile.*); these modules know where
it is and how to lint, render, parse and scan it, so tests and tools share one implementation.
"""
