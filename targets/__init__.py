"""Real systems a scenario can run against, beside the simulated cluster."""
