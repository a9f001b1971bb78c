"""Planning and running: job specs, the plan, executors, the trainer, the result store, checks."""
