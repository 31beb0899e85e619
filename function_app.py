"""The Function App: registers the blueprints, and scrubs secrets from every log record.

- starters/: the HTTP API (`POST /tasks`, `GET /tasks/{id}`, `GET /tasks/{id}/result`) the queue trigger,
  and the timer that lets the SQLite mirror catch up with Durable state
- orchestrators/: the task orchestrator
- activities/: the Magentic-One run and the failure record
"""

import azure.durable_functions as df

import activities
import orchestrators
import starters
from magentic_tasks.redaction import install_log_redaction

install_log_redaction()

app = df.DFApp()
app.register_functions(starters.http_bp)
app.register_functions(starters.queue_bp)
app.register_functions(starters.maintenance_bp)
app.register_functions(orchestrators.bp)
app.register_functions(activities.bp)
