"""`fraudlake operator …`: run the FraudPipeline operator, print or regenerate its CRD."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

operator_app = typer.Typer(help="The FraudPipeline operator (Kopf).", no_args_is_help=True)


@operator_app.command()
def run(
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Namespace to serve (repeatable).")
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Serve the whole cluster.")
    ] = False,
    standalone: Annotated[
        bool,
        typer.Option(
            "--standalone/--peering", help="Standalone (default) or coordinate replicas via peering."
        ),
    ] = True,
    liveness: Annotated[
        str, typer.Option(help="Liveness endpoint URL; '' disables it.")
    ] = "http://0.0.0.0:8080/healthz",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Reconcile FraudPipelines until interrupted (SIGINT/SIGTERM stop it gracefully)."""
    if bool(namespace) == all_namespaces:
        raise typer.BadParameter("pass either --namespace NAME (repeatable) or --all-namespaces")
    import kopf

    import fraudlake.operator.handlers  # noqa: F401 - registers the handlers

    kopf.configure(verbose=verbose, log_prefix=True)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    kopf.run(
        standalone=standalone,
        clusterwide=all_namespaces,
        namespaces=namespace or (),
        liveness_endpoint=liveness or None,
    )


@operator_app.command()
def crd(
    write: Annotated[bool, typer.Option(help="Rewrite operator/crd/fraudpipeline.yaml.")] = False,
) -> None:
    """Print the FraudPipeline CRD generated from the spec models (or write it into the repo)."""
    from fraudlake.operator.crd_schema import render_crd_yaml, write_crd

    if write:
        typer.echo(f"wrote {write_crd()}")
    else:
        typer.echo(render_crd_yaml(), nl=False)
