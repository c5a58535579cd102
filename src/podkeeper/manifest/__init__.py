"""Manifests: YAML/JSON -> Kubernetes objects with defaults -> validation -> core spec.

The API server's pipeline in miniature: decode (`document`), default
(`defaults`), validate with Kubernetes's field paths and messages
(`validation`), then convert to the core's frozen types (`convert`).
"""

from podkeeper.manifest.convert import pod_from_object
from podkeeper.manifest.defaults import default_object
from podkeeper.manifest.document import Document, ManifestError, load_documents, load_text
from podkeeper.manifest.field import FieldError, format_invalid
from podkeeper.manifest.kinds import KIND_VERSIONS, pod_template
from podkeeper.manifest.quantity import cpu_millis, memory_bytes, parse_quantity
from podkeeper.manifest.unimplemented import unimplemented_fields
from podkeeper.manifest.validation import validate_object

__all__ = [
    "KIND_VERSIONS",
    "Document",
    "FieldError",
    "ManifestError",
    "cpu_millis",
    "default_object",
    "format_invalid",
    "load_documents",
    "load_text",
    "memory_bytes",
    "parse_quantity",
    "pod_from_object",
    "pod_template",
    "unimplemented_fields",
    "validate_object",
]
