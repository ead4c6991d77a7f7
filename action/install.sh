#!/usr/bin/env bash
# Install the pinned tool: a hashed requirements file, a PyPI version, or the action's own checkout.
set -euo pipefail
if [[ -n "${REQUIREMENTS:-}" ]]; then
  python -m pip install --disable-pip-version-check --require-hashes -r "$REQUIREMENTS"
elif [[ -n "${VERSION:-}" ]]; then
  python -m pip install --disable-pip-version-check "secrets-reconciler==${VERSION}"
else
  python -m pip install --disable-pip-version-check "${ACTION_PATH:?}"
fi
python -m reconciler --version
