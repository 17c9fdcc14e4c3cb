raise SystemExit("other.py must not run: the manifest's entrypoint is main.py")
