"""The `ferris` command line and its localhost console proxy."""
