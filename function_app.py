"""The Function App: registers the blueprints, and scrubs secrets from every log record.

- starters/: the HTTP API (create, status, result, list, delete, the OpenAPI document), the Storage
  queue trigger, the Service Bus and Event Grid triggers (only where configured), and the timer
  that lets the SQLite mirror catch up with Durable state
- orchestrators/: the task orchestrator, and the callback delivery
- activities/: the Magentic-One run and the failure record, callback delivery, event publishing
  (one activity per configured sink)
"""

import azure.durable_functions as df

import activities
import orchestrators
import starters
from magentic_tasks.log_levels import apply_configured_log_levels
from magentic_tasks.redaction import install_log_redaction
from magentic_tasks.telemetry import configure_telemetry

install_log_redaction()
configure_telemetry()
indexing_settings = starters.settings_at_indexing()
apply_configured_log_levels(indexing_settings)

app = df.DFApp()
for blueprint in [
    *starters.starter_blueprints(indexing_settings),
    *orchestrators.BLUEPRINTS,
    *activities.activity_blueprints(indexing_settings),
]:
    app.register_functions(blueprint)
