// identity.bicep — the one user-assigned managed identity IdP Keeper runs as.
//
// The same identity is used by the Functions host (AzureWebJobsStorage,
// ServiceBusConnection, the deployment package container), by the Go code
// (azidentity DefaultAzureCredential picks it through AZURE_CLIENT_ID), by the
// Event Grid system topic (dead-letter writes) and, through its service
// principal, for Microsoft Graph application permissions. A user-assigned
// identity (not system-assigned) lets the roles and Graph grants exist before
// the function app starts, and survives re-creating the app.

@description('Name of the user-assigned managed identity.')
param name string

param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
