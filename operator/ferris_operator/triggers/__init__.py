"""Runs started by events: which triggers an event matches (pure), and the runs it makes."""
