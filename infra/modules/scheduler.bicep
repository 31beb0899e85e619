// Optional Durable Task Scheduler backend (Consumption SKU) with one task hub. The app's
// identity gets Durable Task Data Contributor on the scheduler; host.json must switch its
// storageProvider to azureManaged (infra/host.durable-task-scheduler.json, docs/deploy.md).
param location string
param tags object
param token string
param principalId string

@allowed(['Consumption', 'Dedicated'])
param skuName string = 'Consumption'

param taskHubName string = 'magentictasks'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: 'dts-${token}'
  location: location
  tags: tags
  properties: {
    sku: { name: skuName }
    // Reached over the public endpoint with Entra tokens only; an empty list would deny all.
    ipAllowlist: ['0.0.0.0/0']
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

var durableTaskDataContributor = '5f6a3c3e-0da3-4079-b4f3-4db62a1d3c09'

resource dataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scheduler.id, principalId, durableTaskDataContributor)
  scope: scheduler
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
  }
}

output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
