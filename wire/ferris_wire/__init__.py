"""What the operator and the runner say to each other, written once (``runner_api``)."""
