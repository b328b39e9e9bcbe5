// roles.bicep — Azure RBAC for the managed identity on the resources in the
// app's resource group (the Key Vault roles are in roles-keyvault.bicep,
// deployed in the vault's resource group, which may differ).
//
// Least privilege, and why each role:
//
//   Storage Blob Data Owner — on the storage account.
//     The Functions host with identity-based AzureWebJobsStorage needs "both
//     read and write access to blobs and the ability to create containers"
//     (MicrosoftDocs azure-functions functions-reference.md, "Connecting to
//     host storage with an identity": "The Storage Blob Data Owner role covers
//     the basic needs of Functions host storage"). Storage Blob Data
//     Contributor does not cover the host's needs there. The timer trigger's
//     schedule monitor and singleton lock are blob leases — no queue or table
//     role is needed: the app has no blob trigger, no Durable Functions and no
//     storage-queue bindings (Storage Queue Data Contributor would only be
//     needed for those). The same role covers the Flex deployment container,
//     the IdP Keeper state container (statestore: read/write with ETags) and
//     Event Grid's dead-letter writes (the system topic uses this identity).
//
//   Azure Service Bus Data Receiver + Data Sender — on the namespace.
//     Receiver: the three serviceBusTrigger functions and the dead-letter
//     listing (`idpkeeper jobs dead-letters`). Sender: ScanTimer and
//     KeyVaultEvents enqueue jobs; Resubmit moves dead-letters back. Data
//     Owner (manage rights) is not needed: infra creates the queues.
//
//   Monitoring Metrics Publisher — on the Application Insights component.
//     Required for Entra ID–authenticated telemetry ingestion
//     (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), local auth being disabled.
//
// principalType ServicePrincipal avoids failures while a new identity
// replicates through Entra ID.

param principalId string
param storageAccountName string
param serviceBusNamespaceName string
param applicationInsightsName string

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roleIds.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, principalId, roleIds.serviceBusDataReceiver)
  scope: serviceBus
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, principalId, roleIds.serviceBusDataSender)
  scope: serviceBus
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roleIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
