"""A `.sql` step of a Ferris run: its statements run against the database a package secret names."""
