"""The ciphertext format shared by the operator (which seals) and the runner (which opens): the
self-describing header (``format``), AES-256-GCM under that header (``aead``) and the run
bundle (``bundle``). Its own distribution so that neither side imports the other."""
