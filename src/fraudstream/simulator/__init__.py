"""Bank simulators: a consistent card population, fraud scenarios, producers."""
