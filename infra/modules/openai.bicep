// An Azure OpenAI account with one model deployment, when you do not bring your own.
// Keys are disabled: the app reaches it with its managed identity only.
param location string
param tags object
param token string
param deploymentName string
param modelName string
param modelVersion string
param skuName string
param capacity int

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: 'oai-${token}'
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: { name: 'S0' }
  properties: {
    customSubDomainName: 'oai-${token}'
    disableLocalAuth: true
    // checkov:skip=CKV_AZURE_238: the account calls no other resource (no customer-managed key, no data sources), so an identity of its own would be unused.
    // checkov:skip=CKV_AZURE_134: public endpoint kept so the template deploys without a VNet; keys are off, so only Entra principals with a data role can call it.
    publicNetworkAccess: 'Enabled'
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
  }
}

output name string = account.name
output endpoint string = account.properties.endpoint
