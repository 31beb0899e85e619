// Everything in the app's resource group. One module per concern under modules/.
param location string
param tags object
param token string
param pythonVersion string
param azureOpenAiEndpoint string
param modelDeploymentName string
param modelName string
param modelVersion string
param modelSkuName string
param modelCapacity int
param useDurableTaskScheduler bool
param durableAlwaysReady int
param maximumInstanceCount int
param instanceMemoryMB int
param maxTokensPerTask int

var createOpenAi = empty(azureOpenAiEndpoint)
var appName = 'func-${token}'

// The app's only identity: storage for the host, the model, telemetry, the scheduler.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${token}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    token: token
    principalId: identity.properties.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    token: token
    principalId: identity.properties.principalId
    deploymentContainerName: 'app-package-${take(appName, 32)}'
  }
}

module openAi 'modules/openai.bicep' = if (createOpenAi) {
  name: 'openai'
  params: {
    location: location
    tags: tags
    token: token
    deploymentName: modelDeploymentName
    modelName: modelName
    modelVersion: modelVersion
    skuName: modelSkuName
    capacity: modelCapacity
  }
}

module openAiAccess 'modules/openai-access.bicep' = if (createOpenAi) {
  name: 'openai-access'
  params: {
    accountName: createOpenAi ? openAi.outputs.name : ''
    principalId: identity.properties.principalId
  }
}

module scheduler 'modules/scheduler.bicep' = if (useDurableTaskScheduler) {
  name: 'scheduler'
  params: {
    location: location
    tags: tags
    token: token
    principalId: identity.properties.principalId
  }
}

module app 'modules/function.bicep' = {
  name: 'function'
  params: {
    location: location
    tags: tags
    name: appName
    planName: 'plan-${token}'
    pythonVersion: pythonVersion
    identityId: identity.id
    identityClientId: identity.properties.clientId
    hostStorageName: storage.outputs.hostStorageName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    filesStorageName: storage.outputs.filesStorageName
    tasksShareName: storage.outputs.tasksShareName
    taskFilesContainerName: storage.outputs.taskFilesContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    azureOpenAiEndpoint: createOpenAi ? openAi.outputs.endpoint : azureOpenAiEndpoint
    modelDeploymentName: modelDeploymentName
    schedulerEndpoint: useDurableTaskScheduler ? scheduler.outputs.endpoint : ''
    taskHubName: useDurableTaskScheduler ? scheduler.outputs.taskHubName : ''
    durableAlwaysReady: durableAlwaysReady
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    maxTokensPerTask: maxTokensPerTask
  }
}

output identityPrincipalId string = identity.properties.principalId
output functionAppName string = app.outputs.name
output functionAppUri string = app.outputs.uri
output openAiEndpoint string = createOpenAi ? openAi.outputs.endpoint : azureOpenAiEndpoint
output applicationInsightsName string = monitoring.outputs.name
