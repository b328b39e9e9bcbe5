// eventgrid.bicep — Key Vault → Event Grid system topic → KeyVaultEvents function.
//
// Deploy in the vault's resource group (a system topic lives next to its
// source). A vault can have only one system topic: if yours already has one,
// add the subscription below to it instead (see docs/deploy.md).
//
// The subscription uses the AzureFunction endpoint type
// (resourceId <site>/functions/KeyVaultEvents): Event Grid calls the function
// with its system key, no webhook URL or key in the template. Event Grid
// checks that the function exists when the subscription is created, so the
// subscription is created only once the code is deployed
// (createSubscription = true; azure.yaml's postdeploy hook re-provisions).
//
// Delivery: Event Grid schema, one event per request, retried 30 times over
// at most 24 h (1440 min); then the event is dead-lettered to the blob
// container eventgrid-deadletter, written with the user-assigned identity
// assigned to the system topic (that identity has Storage Blob Data Owner on
// the account, roles.bicep).

param keyVaultName string
param location string
param tags object = {}

@description('Name of the Event Grid system topic created on the vault.')
param systemTopicName string

@description('Function app resource ID; the subscription targets <id>/functions/<functionName>.')
param functionAppId string

@description('The Event Grid–triggered function (functions/KeyVaultEvents/function.json).')
param functionName string = 'KeyVaultEvents'

@description('Create the event subscription (the function must already be deployed).')
param createSubscription bool

param identityId string
param deadLetterStorageAccountId string
param deadLetterContainerName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (createSubscription) {
  parent: systemTopic
  name: 'idpkeeper-keyvault-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      // Exactly the types shared/events handles (events.HandledTypes).
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
        'Microsoft.KeyVault.SecretNewVersionCreated'
        'Microsoft.KeyVault.CertificateNearExpiry'
        'Microsoft.KeyVault.CertificateExpired'
        'Microsoft.KeyVault.CertificateNewVersionCreated'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicId string = systemTopic.id
output subscriptionCreated bool = createSubscription
