"""Generated from kubernetes/cri-api pkg/apis/runtime/v1/api.proto by scripts/gen_cri_stubs.py; do not edit."""
