"""Work queues, deferred work and per-object locks, shared fresh reads, rate limits, loops that isolate failures."""
