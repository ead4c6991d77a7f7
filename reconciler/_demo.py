"""``reconciler demo``: the whole loop against an embedded local AWS (``reconciler._local``, moto).

Each step is ``run_once``, exactly what ``reconciler run``/``plan`` and the Lambda do."""

from __future__ import annotations

import tempfile
import textwrap
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

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
    destinations:
      - dr/db/credentials
      - {name: /dr/db/credentials, service: ssm}   # Parameter Store
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


def run_demo(*, keep: bool = False, console: Console | None = None) -> int:
    """Run the demo, printing to ``console`` (default: the terminal; ``tools/make_demo_svg.py`` records it)."""
    from ._local import LocalAwsUnavailable, start_local_aws, use_local_environment

    try:
        aws = start_local_aws()
    except LocalAwsUnavailable as exc:
        print(exc)
        return 2
    import boto3
    from rich.console import Console
    from rich.rule import Rule
    from rich.text import Text

    from ._run import run_once
    from .engine import Options
    from .manifest import load_manifest
    from .output import logs
    from .output.render import render_text
    from .output.report import ExitCode

    # The tables below say what failed and why; log lines would repeat it without the context.
    logs.configure("CRITICAL", json_lines=False)

    console = console or Console()
    started = time.monotonic()
    url = aws.url
    use_local_environment(credentials={"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"}, endpoint=url)
    try:
        _seed_sources(url)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "demo.yaml"
            path.write_text(DEMO_MANIFEST)
            manifest = load_manifest(str(path))
            console.print(Rule("the manifest"))
            console.print(Text(textwrap.indent(DEMO_MANIFEST, "  ")))

            def step(title: str, mode: str) -> Any:
                import anyio

                console.print(Rule(Text(title)))
                report = anyio.run(partial(run_once, manifest, Options(mode=mode)))
                render_text(report, console=console)
                meaning = ExitCode(report.exit_code).name.lower().replace("_", " ")  # "changes pending"
                console.print(Text(f"exit code would be {report.exit_code:d} ({meaning})", style="dim"))
                return report

            step("1. plan: nothing exists at the destinations yet", "plan")
            if step("2. run: create every destination", "run").exit_code != 0:
                console.print(Text("\nthe run failed (the table says why); the demo stops here", style="bold red"))
                return 1
            west = boto3.client("secretsmanager", region_name="us-west-2", endpoint_url=url)
            west.put_secret_value(SecretId="dr/api/service-2", SecretString="edited by hand")
            console.print(Rule("3. someone edits dr/api/service-2 in us-west-2 by hand"))
            step("4. plan: the out-of-band edit is found (from version metadata, no values read)", "plan")
            step("5. run: only that destination is written", "run")
            report = step("6. run again: everything in sync", "run")
            console.print(Text(f"\ndemo finished in {time.monotonic() - started:.1f} s", style="bold"))
            if keep:
                console.print(Text(f"local AWS at {url}; Ctrl-C to stop"))
                while True:
                    time.sleep(3600)
            return 0 if report.exit_code == 0 else 1
    finally:
        aws.stop()


def _seed_sources(url: str) -> None:
    """The demo's sources in us-east-1: one JSON secret and three line-based ones."""
    import boto3

    sm = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=url)
    sm.create_secret(Name="prod/db/credentials",
                     SecretString='{"host": "db.us-east-1.internal", "user": "app", "password": "demo-only"}')
    for i in range(1, 4):
        sm.create_secret(Name=f"prod/api/service-{i}",
                         SecretString=f"endpoint=https://api.us-east-1.example.com\nkey=demo-{i}\ndebug=true\n")
