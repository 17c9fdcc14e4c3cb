"""Secrets beyond one package: a project's (a namespace's) and, later, the platform's."""
