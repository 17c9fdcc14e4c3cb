"""Secrets taken in for whatever holds them (packages, scopes, event sources)."""
