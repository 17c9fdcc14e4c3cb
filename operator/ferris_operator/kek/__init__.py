"""Key-encryption keys: who wraps the data keys of the vault.

A provider wraps and unwraps data keys and never hands out its own key: the master key ring
mounted from a Secret (``secret_ring``), a Kubernetes KMS v2 plugin on a Unix socket
(``kmsv2``), or a Vault/OpenBao transit engine (``transit``). ``providers`` picks the current
one, keeps the others readable for a migration, and caches unwrapped data keys for a bounded
time. What is stored per data key is a ``WrappedKey``: everything needed to unwrap it later.
"""
