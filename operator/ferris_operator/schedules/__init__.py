"""Runs that start themselves on a schedule: what is due (pure), and the loop that starts it."""
