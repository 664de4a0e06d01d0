"""What MOVES it: the CLI, the sweep and (later) the Prefect flows."""
