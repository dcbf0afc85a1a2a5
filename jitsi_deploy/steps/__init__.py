"""Deploy steps: pure functions from a host's facts to the Changes that reach the wanted state."""
