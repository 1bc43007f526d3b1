"""Start and stop the real servers behind the demo stack and the integration tests."""
