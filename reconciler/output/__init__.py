"""What a run hands back: the report, its text rendering, metrics, ``--diff`` and logs.

Modules, one job each:

* ``report``  - ``Report``/``ItemResult``/``RunError`` and the exit code (pure, no I/O)
* ``render``  - the ``--format text`` table (rich; never imported on the Lambda path)
* ``metrics`` - one aggregated batch per run and the sinks that publish it
* ``diff``    - where two values differ, by JSON path or line number, never what they hold
* ``logs``    - JSON-lines logging on stderr

Nothing is imported here, so ``import reconciler.output.report`` stays cheap on a Lambda cold start.
"""
