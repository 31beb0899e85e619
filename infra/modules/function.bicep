// The Flex Consumption plan and the Function App: Python, a user-assigned identity for
// everything, identity-based AzureWebJobsStorage, the tasks share mounted for SQLite, and every
// setting magentic_tasks.settings.Settings reads (tests/deploy/test_settings_coverage.py).
param location string
param tags object
param name string
param planName string
param pythonVersion string
param identityId string
param identityClientId string
param hostStorageName string
param deploymentContainerUrl string
param filesStorageName string
param tasksShareName string
param taskFilesContainerName string
param appInsightsConnectionString string
param azureOpenAiEndpoint string
param modelDeploymentName string
param schedulerEndpoint string
param taskHubName string
param durableAlwaysReady int
param maximumInstanceCount int
param instanceMemoryMB int
param maxTokensPerTask int

var mountPath = '/mounts/tasks'
var useScheduler = !empty(schedulerEndpoint)

resource filesAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: filesStorageName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption exists only in some regions; turn it on (zoneRedundant) where yours has it.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// The host's storage, by identity: no connection string, no key (the account refuses keys).
var hostStorageSettings = {
  AzureWebJobsStorage__accountName: hostStorageName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
}

// Telemetry by identity: the component has local auth off.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The worker attaches the host's trace context to each invocation; the app configures Azure Monitor
  // itself (magentic_tasks/telemetry), so PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY stays unset.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
}

// DefaultAzureCredential picks the user-assigned identity by this client id (Azure OpenAI).
var identitySettings = {
  AZURE_CLIENT_ID: identityClientId
}

// What the app's code reads (magentic_tasks/settings.py), with production values. Settings not
// listed here keep their code default on purpose: see DEFAULTED in tests/deploy/test_settings_coverage.py.
var taskSettings = {
  HTTP_AUTH_LEVEL: 'function' // function keys; never 'anonymous' in Azure
  AZURE_OPENAI_ENDPOINT: azureOpenAiEndpoint
  OPENAI_API_VERSION: '2024-10-21'
  DEFAULT_MODEL_NAME: modelDeploymentName
  ALLOWED_MODELS: modelDeploymentName
  MODEL_MAX_RETRIES: '3'
  MODEL_TIMEOUT_SECONDS: '120'
  TASKS_DB_PATH: '${mountPath}/tasks.db'
  SQLITE_LOCKING: 'dotfile'
  SQLITE_BUSY_TIMEOUT_MS: '5000'
  TASK_WORKSPACE_ROOT: '/tmp/magentic-workspaces'
  CODE_EXECUTOR: 'none'
  ENABLE_WEB_SURFER: 'false'
  MAX_TURNS: '20'
  MAX_STALLS: '3'
  TASK_TIMEOUT_SECONDS: '540'
  MAX_PROMPT_CHARS: '20000'
  MAX_TOKENS_PER_TASK: string(maxTokensPerTask)
  ACTIVITY_MAX_ATTEMPTS: '3'
  ACTIVITY_FIRST_RETRY_SECONDS: '5'
  CANCEL_POLL_SECONDS: '2'
  MIRROR_FLUSH_SECONDS: '1'
  // Attachments and outputs: the host's account by identity (AzureWebJobsStorage__*), its own container.
  TASK_FILES_CONNECTION: 'AzureWebJobsStorage'
  TASK_FILES_CONTAINER: taskFilesContainerName
  FILES_MAX_COUNT: '20'
  FILES_MAX_BYTES: '26214400'
  FILES_INLINE_MAX_BYTES: '8388608'
  ARTIFACT_MAX_FILES: '50'
  ARTIFACT_MAX_BYTES: '104857600'
}

// Only with the Durable Task Scheduler backend (host.json storageProvider azureManaged).
var schedulerConnection = 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
var schedulerSettings = useScheduler ? { DURABLE_TASK_SCHEDULER_CONNECTION_STRING: schedulerConnection, TASKHUB_NAME: taskHubName } : {}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: client certificates would break every caller that uses function keys; TLS is enforced (httpsOnly, minTlsVersion 1.2).
  // checkov:skip=CKV_AZURE_222: the HTTP API is meant to be called from the internet (function keys); add access restrictions or a VNet if yours is not (docs/deploy.md).
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances on demand; the durable group keeps durableAlwaysReady instances warm, the http group scales from zero.
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check; the Functions host restarts unhealthy workers itself.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The tasks share, mounted over SMB for TASKS_DB_PATH. Flex Consumption mounts accept only
      // the account key: it is read at deployment time (listKeys) into the site's storage-mount
      // configuration, never into app settings, outputs or azd's environment.
      azureStorageAccounts: {
        tasks: {
          type: 'AzureFiles'
          protocol: 'Smb'
          accountName: filesAccount.name
          shareName: tasksShareName
          mountPath: mountPath
          accessKey: filesAccount.listKeys().keys[0].value
        }
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        // Orchestrations and activities run in the durable group; Microsoft advises keeping
        // one instance of it warm on Flex Consumption so timers and queues are polled.
        alwaysReady: (durableAlwaysReady > 0) ? [{ name: 'durable', instanceCount: durableAlwaysReady }] : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// checkov reads this child resource as a web app and runs the site checks on it; the site itself
// (`app` above) is what those checks are about, and its results stand there.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: site check misapplied to the appsettings child (see above); auth is function keys.
  // checkov:skip=CKV_AZURE_63: site check misapplied to the appsettings child; HTTP logs go to Application Insights.
  // checkov:skip=CKV_AZURE_65: site check misapplied to the appsettings child; detailed errors are an IIS (Windows) feature.
  // checkov:skip=CKV_AZURE_66: site check misapplied to the appsettings child; failed request tracing is an IIS (Windows) feature.
  // checkov:skip=CKV_AZURE_80: site check misapplied to the appsettings child; the app is Python, no .NET Framework.
  // checkov:skip=CKV_AZURE_88: site check misapplied to the appsettings child; the site mounts Azure Files (azureStorageAccounts).
  // checkov:skip=CKV_AZURE_222: site check misapplied to the appsettings child; see the same finding on the site.
  parent: app
  name: 'appsettings'
  properties: union(hostStorageSettings, monitoringSettings, identitySettings, taskSettings, schedulerSettings)
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
