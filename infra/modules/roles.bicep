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
//   Azure Service Bus Data Owner — on each of the three job queues, nothing
//     on the namespace. The functions receive (the serviceBusTrigger
//     functions, `idpkeeper jobs dead-letters`) and send (ScanTimer,
//     KeyVaultEvents, RotateCredential and RefreshMetadata follow-ups,
//     Resubmit) — Receiver + Sender would cover that — but Flex Consumption's
//     target-based scaling reads each queue's message count through the
//     app's connection, which needs the Manage claim; without it the scale
//     controller falls back to incremental scaling (one instance at a time)
//     when a scan queues hundreds of notices. Data Owner is the built-in role
//     with Manage (learn.microsoft.com/azure/azure-functions/
//     functions-bindings-service-bus, "Grant permission to the identity":
//     trigger → Data Receiver or Data Owner). Trade-off, and why it is scoped
//     to the queues: Manage on a queue also allows changing or deleting that
//     queue; on the namespace it would extend to every entity in it. The
//     queues hold only job references (no secrets), and infra re-creates
//     them on the next provision.
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
@description('The three job queues; Data Owner is assigned on each.')
param queueNames array
param applicationInsightsName string

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = [
  for name in queueNames: {
    parent: serviceBus
    name: name
  }
]

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

resource serviceBusQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in queueNames: {
    name: guid(queues[i].id, principalId, roleIds.serviceBusDataOwner)
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataOwner)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roleIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
