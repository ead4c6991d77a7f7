"""Moved to :mod:`reconciler.manifest.files`; this shim keeps old imports working until they move."""

from .manifest.files import (
    MAX_RULE_FILE_BYTES,
    LocalDir,
    RuleBase,
    RuleFileError,
    S3Prefix,
    read_manifest,
    read_rule_file,
    rule_base,
)

__all__ = ["MAX_RULE_FILE_BYTES", "LocalDir", "RuleBase", "RuleFileError", "S3Prefix", "read_manifest",
           "read_rule_file", "rule_base"]
