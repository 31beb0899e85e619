// Two storage accounts, because they need opposite key policies:
// - host: AzureWebJobsStorage (Durable's queues, tables and blobs, the queue trigger), the
//   deployment container and the task-files container (attachments and outputs, TASK_FILES_CONTAINER).
//   Shared keys are off; the app's identity has data roles only.
// - files: the Azure Files share mounted at /mounts/tasks for the SQLite mirror (TASKS_DB_PATH).
//   Flex Consumption mounts shares over SMB with the account key only, so this account must
//   allow shared keys; it holds nothing but that share.
param location string
param tags object
param token string
param principalId string
param deploymentContainerName string

@description('The container of the tasks\' attachments and outputs (TASK_FILES_CONTAINER).')
param taskFilesContainerName string = 'task-files'

@description('Quota of the tasks share, in GiB.')
param tasksShareQuotaGiB int = 100

var tasksShareName = 'tasks'

resource host 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is take('st...' + uniqueString, 24): lowercase letters and digits, at most 24; checkov cannot evaluate it.
  // checkov:skip=CKV_AZURE_35: default-allow network rules; Flex Consumption without VNet integration reaches storage over public endpoints. Shared keys are off, so access is Entra-only.
  // checkov:skip=CKV_AZURE_59: public network access stays on for the same reason (no VNet in this template); shared keys are off, so only Entra principals with data roles get in.
  // checkov:skip=CKV_AZURE_206: LRS on purpose: Durable state is transient work state; GRS doubles cost without a failover plan for the app.
  name: take('sthost${token}', 24)
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: host
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// Task files: one prefix per task; the app reads, writes and deletes them by identity.
resource taskFilesContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: taskFilesContainerName
  properties: { publicAccess: 'None' }
}

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// Granted on the container itself, so the app keeps its files if the account-wide roles are narrowed.
resource taskFilesRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskFilesContainer.id, principalId, storageBlobDataContributor)
  scope: taskFilesContainer
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

// The roles the Functions host and Durable's Azure Storage backend need on AzureWebJobsStorage.
var hostRoles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // leases, blobs, deployment package
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Durable control/work-item queues, magentic-tasks
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Durable history and instances tables
}

resource hostRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(hostRoles): {
    name: guid(host.id, principalId, role.value)
    scope: host
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    }
  }
]

resource files 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is take('st...' + uniqueString, 24): lowercase letters and digits, at most 24; checkov cannot evaluate it.
  // checkov:skip=CKV_AZURE_35: Flex Consumption mounts the share over the public SMB endpoint unless the app is VNet-integrated (not in this template).
  // checkov:skip=CKV_AZURE_59: public network access stays on: without VNet integration Flex Consumption mounts the share over the public SMB endpoint.
  // checkov:skip=CKV_AZURE_206: LRS on purpose: the share is a mirror of Durable state, which stays authoritative.
  name: take('stfiles${token}', 24)
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: files
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource tasksShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: fileService
  name: tasksShareName
  properties: {
    enabledProtocols: 'SMB'
    shareQuota: tasksShareQuotaGiB
  }
}

output hostStorageName string = host.name
output deploymentContainerUrl string = '${host.properties.primaryEndpoints.blob}${deploymentContainer.name}'
output filesStorageName string = files.name
output tasksShareName string = tasksShare.name
output taskFilesContainerName string = taskFilesContainer.name
