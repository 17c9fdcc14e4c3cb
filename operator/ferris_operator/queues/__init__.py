"""Queues and priority lanes: where a run waits for capacity (Kueue)."""
