"""Ferris: run scripts with secrets, the Kubernetes-native way."""

__version__ = "0.1.0"
