// Magentic-One tasks on Azure Durable Functions: everything `azd up` provisions.
// Subscription scope: azd creates the resource group, then resources.bicep fills it.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags of every resource derive from it.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption (and the model, when one is created).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group name; empty = rg-<environmentName>.')
param resourceGroupName string = ''

@allowed(['3.11', '3.12'])
@description('Python version of the Function App: the versions the project tests.')
param pythonVersion string = '3.11'

@description('Bring your own Azure OpenAI: its endpoint (https://<name>.openai.azure.com). Empty = create one.')
param azureOpenAiEndpoint string = ''

@description('Bring your own Azure OpenAI: its resource id, to grant the app Cognitive Services OpenAI User on it. Empty = grant it yourself (see docs/deploy.md).')
param azureOpenAiResourceId string = ''

@description('Deployment name = the model_name tasks ask for. Created when no endpoint is given; must exist when one is.')
param modelDeploymentName string = 'gpt-4o'

@description('Model created when no endpoint is given.')
param modelName string = 'gpt-4o'

@description('Version of the model created when no endpoint is given.')
param modelVersion string = '2024-11-20'

@description('Deployment SKU of the created model (GlobalStandard, Standard, DataZoneStandard...).')
param modelSkuName string = 'GlobalStandard'

@minValue(1)
@description('Capacity of the created model deployment, in thousands of tokens per minute.')
param modelCapacity int = 30

@description('Use the Durable Task Scheduler instead of the Azure Storage backend (also swap host.json: docs/deploy.md).')
param useDurableTaskScheduler bool = false

@minValue(0)
@description('Always-ready instances of the durable group (Microsoft advises at least 1 on Flex Consumption).')
param durableAlwaysReady int = 1

@minValue(1)
@maxValue(1000)
@description('Most instances the app scales out to.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Memory of one instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@description('MAX_TOKENS_PER_TASK: token budget of one task.')
param maxTokensPerTask int = 200000

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    pythonVersion: pythonVersion
    azureOpenAiEndpoint: azureOpenAiEndpoint
    modelDeploymentName: modelDeploymentName
    modelName: modelName
    modelVersion: modelVersion
    modelSkuName: modelSkuName
    modelCapacity: modelCapacity
    useDurableTaskScheduler: useDurableTaskScheduler
    durableAlwaysReady: durableAlwaysReady
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    maxTokensPerTask: maxTokensPerTask
  }
}

// A model resource you bring may live in another resource group or subscription: grant the
// app's identity Cognitive Services OpenAI User there (resource id segments 2, 4 and 8).
// (A placeholder id keeps the scope expression valid when the module is not deployed.)
var byoPlaceholder = '${subscription().id}/resourceGroups/${rg.name}/providers/Microsoft.CognitiveServices/accounts/none'
var byoId = empty(azureOpenAiResourceId) ? byoPlaceholder : azureOpenAiResourceId
var byoParts = split(byoId, '/')
module byoOpenAiAccess 'modules/openai-access.bicep' = if (!empty(azureOpenAiEndpoint) && !empty(azureOpenAiResourceId)) {
  name: 'byo-openai-access'
  scope: resourceGroup(byoParts[2], byoParts[4])
  params: {
    accountName: byoParts[8]
    principalId: resources.outputs.identityPrincipalId
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output SERVICE_API_NAME string = resources.outputs.functionAppName
output SERVICE_API_URI string = resources.outputs.functionAppUri
output AZURE_OPENAI_ENDPOINT string = resources.outputs.openAiEndpoint
output MODEL_DEPLOYMENT_NAME string = modelDeploymentName
output APPLICATIONINSIGHTS_NAME string = resources.outputs.applicationInsightsName
