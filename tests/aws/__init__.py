"""The opt-in AWS conformance suite (docs/guides/aws-conformance.md); a package so its conftest
does not shadow tests/conftest.py (both would otherwise import as ``conftest``)."""
