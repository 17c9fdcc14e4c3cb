"""The Kubernetes KMS v2 plugin API: ``api.proto`` pinned from k8s.io/kms v0.35.4 (the version
the local control plane is built with) and the message classes generated from it
(``api_pb2.py`` and its types, ``api_pb2.pyi``). Regenerate with ``make kms-stubs``; never
edit the generated files."""
