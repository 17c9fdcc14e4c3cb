"""What each process runs beside its work: health, metrics, memory, TLS, stopping, peering."""
