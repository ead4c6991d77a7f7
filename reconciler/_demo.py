"""``reconciler demo``: the whole loop against an embedded local AWS (moto server)."""

from __future__ import annotations

import os
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

DEMO_MANIFEST = """\
version: 1
settings:
  concurrency: 8
  metrics: {sink: none}
defaults:
  source: {region: us-east-1}
  destination: {region: us-west-2}
mappings:
  - id: database
    source: prod/db/credentials
    destination: dr/db/credentials
    transform:
      - json: {"$.host": "db.${REGION}.internal"}
  - id: api-keys
    source: "prod/api/*"
    destinations:
      - {name: "dr/api/*", region: us-west-2}
      - {name: "dr/api/*", region: eu-west-1}
    transform:
      - sed: ["s/us-east-1/${REGION}/g", "/^debug=/d"]
"""


def run_demo(*, keep: bool = False) -> int:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("the demo needs the local AWS emulator: pip install 'secrets-reconciler[local]'")
        return 2
    import logging

    import boto3
    from rich.console import Console
    from rich.rule import Rule

    from ._engine import Options, reconcile
    from ._manifest import load_manifest
    from ._report import render_text

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's access log
    console = Console()
    started = time.monotonic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ.update({"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        sm = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=url)
        sm.create_secret(Name="prod/db/credentials",
                         SecretString='{"host": "db.us-east-1.internal", "user": "app", "password": "demo-only"}')
        for i in range(1, 4):
            sm.create_secret(Name=f"prod/api/service-{i}",
                             SecretString=f"endpoint=https://api.us-east-1.example.com\nkey=demo-{i}\ndebug=true\n")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "demo.yaml"
            path.write_text(DEMO_MANIFEST)
            manifest = load_manifest(str(path))
            console.print(Rule("the manifest"))
            console.print(textwrap.indent(DEMO_MANIFEST, "  "), highlight=False)

            def step(title: str, mode: str) -> Any:
                import anyio

                console.print(Rule(title))
                report = anyio.run(reconcile, manifest, Options(mode=mode))
                render_text(report, console=console)
                console.print(f"exit code would be {report.exit_code}", style="dim")
                return report

            step("1. plan: nothing exists at the destinations yet", "plan")
            step("2. run: create every destination", "run")
            west = boto3.client("secretsmanager", region_name="us-west-2", endpoint_url=url)
            west.put_secret_value(SecretId="dr/api/service-2", SecretString="edited by hand")
            console.print(Rule("3. someone edits dr/api/service-2 in us-west-2 by hand"))
            step("4. plan: the out-of-band edit is found (from version metadata, no values read)", "plan")
            step("5. run: only that destination is written", "run")
            report = step("6. run again: everything in sync", "run")
            console.print(f"\ndemo finished in {time.monotonic() - started:.1f} s", style="bold")
            if keep:
                console.print(f"local AWS at {url}; Ctrl-C to stop")
                while True:
                    time.sleep(3600)
            return 0 if report.exit_code == 0 else 1
    finally:
        server.stop()
