"""The Function App: registers the blueprints, and scrubs secrets from every log record.

- starters/: the HTTP API (`POST /tasks`, `GET /tasks/{id}`, `GET /tasks/{id}/result`), the Storage
  queue trigger, the Service Bus and Event Grid triggers (only where configured), and the timer
  that lets the SQLite mirror catch up with Durable state
- orchestrators/: the task orchestrator
- activities/: the Magentic-One run and the failure record
"""

import azure.durable_functions as df

import activities
import orchestrators
import starters
from magentic_tasks.log_levels import apply_configured_log_levels
from magentic_tasks.redaction import install_log_redaction

install_log_redaction()
apply_configured_log_levels()

app = df.DFApp()
for blueprint in starters.starter_blueprints(starters.settings_at_indexing()):
    app.register_functions(blueprint)
app.register_functions(orchestrators.bp)
app.register_functions(activities.bp)
