"""The console's process: its /metrics server first, then Streamlit's own command line.

`streamlit run` executes the page script only when a browser opens a session, so a console nobody
had looked at yet served no /metrics: Prometheus saw the target down, and the "console cannot reach
the API" alert could not fire before an analyst noticed it themselves. Started here, the metrics
server is up with the process; the page script's `serve_from_env` then finds it running.

    python -m fraudlake.ui.server run <app.py> --server.port=... (the argv of `streamlit`)
"""

from __future__ import annotations

import sys


def main() -> None:
    from streamlit.web.cli import main as streamlit_main

    from fraudlake.ui.metrics import serve_from_env

    serve_from_env()
    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_main()


if __name__ == "__main__":
    main()
