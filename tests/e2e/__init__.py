"""End-to-end tests: the registered functions, the fake Durable host and the scripted model server."""
