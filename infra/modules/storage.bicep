// storage.bicep — the one storage account IdP Keeper uses, identity-only.
//
// Used for:
//   - AzureWebJobsStorage (Functions host: timer schedule monitor, singleton
//     locks, host keys) — identity-based (AzureWebJobsStorage__accountName);
//   - the Flex Consumption deployment package (container deploymentContainerName);
//   - IdP Keeper's state (reports, last good metadata, parked jobs):
//     container stateContainerName, IDPKEEPER_STATE = the blob service URL;
//   - Event Grid dead-letters (container eventgrid-deadletter).
// Shared keys are off (allowSharedKeyAccess: false): every client authenticates
// with Entra ID, so no connection string exists to leak.

param name string
param location string
param tags object = {}

@description('Blob container holding the Flex Consumption deployment package.')
param deploymentContainerName string = 'app-package'

@description('Blob container for IdP Keeper state (IDPKEEPER_STATE_CONTAINER).')
param stateContainerName string = 'idpkeeper'

@description('Blob container Event Grid dead-letters undeliverable Key Vault events to.')
param deadLetterContainerName string = 'eventgrid-deadletter'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Flex Consumption without VNet integration reaches the account over its
    // public endpoint; access is still Entra ID only.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'
    properties: {
      deleteRetentionPolicy: {
        enabled: true
        days: 7
      }
    }

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }

    resource stateContainer 'containers' = {
      name: stateContainerName
      properties: {
        publicAccess: 'None'
      }
    }

    resource deadLetterContainer 'containers' = {
      name: deadLetterContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

output id string = storage.id
output name string = storage.name
// https://<account>.blob.core.windows.net/ — IDPKEEPER_STATE and the base of
// the deployment container URL.
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainerName
output stateContainerName string = stateContainerName
output deadLetterContainerName string = deadLetterContainerName
