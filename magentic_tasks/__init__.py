"""Magentic-One tasks as a service: the domain, free of Azure imports.

Import what you need from its packages and modules: `service` (the task API's behaviour), `run`
(one attempt at a task; it imports autogen, so only the activities and the CLI load it),
`resumable` (the autogen subclasses a resumable run needs), `store` (the SQLite mirror),
`schemas`, `settings`, `events`, `webhooks`, `telemetry`, `redaction`, `openapi`, `cli`.
Nothing is re-exported here: importing one module of the package loads only what it needs.
"""
