// functionapp.bicep — Flex Consumption plan (FC1, Linux) and the function app
// running the Go custom handler (`idpkeeper serve`).
//
// Flex Consumption specifics (MicrosoftDocs/azure-docs
// articles/azure-functions/flex-consumption-plan.md and
// functions-app-settings.md, "Flex Consumption plan deprecations"):
//   - the runtime is set in functionAppConfig.runtime: { name: 'custom', version: '1.0' };
//   - the code is a zip in a blob container (functionAppConfig.deployment),
//     read with the user-assigned identity — no WEBSITE_RUN_FROM_PACKAGE;
//   - FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION,
//     WEBSITE_RUN_FROM_PACKAGE, WEBSITE_CONTENTSHARE,
//     WEBSITE_CONTENTAZUREFILECONNECTIONSTRING, WEBSITE_TIME_ZONE and TZ must
//     NOT be app settings on Flex (timer schedules are UTC);
//   - one app per plan; 30-second app initialization timeout (the Go binary
//     listens in milliseconds).
// The tag azd-service-name ties this site to the `idpkeeper` service in azure.yaml.

param name string
param planName string
param location string
param tags object = {}

@description('azd service name (azure.yaml services.<name>).')
param serviceName string = 'idpkeeper'

// Identity
param identityId string
param identityClientId string

// Storage (AzureWebJobsStorage, deployment package, IdP Keeper state)
param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param stateContainerName string

// Service Bus
param serviceBusFullyQualifiedNamespace string
param queueMetadata string
param queueRotation string
param queueNotices string

// Monitoring
param applicationInsightsConnectionString string

// IdP Keeper
@description('NCRONTAB (6 fields, UTC) for ScanTimer.')
param scanSchedule string

@description('NCRONTAB (6 fields, UTC) for WatchTimer.')
param watchSchedule string

@description('Config file path relative to the app root; empty: built-in defaults.')
param configPath string

@description('Mailbox (UPN or object ID) that sends owner notices; empty: no mail.')
param noticeMailbox string

@description('Ack function URL without a key (https://<host>/api/ack) for links in notices, signed with the key behind ackKeySecretUri; empty: notices say to run `idpkeeper ack`. Known only after the first deploy (azure.yaml postdeploy hook).')
param ackUrl string = ''

@description('Key Vault secret URI, without a version, of the acknowledgement link key (ackkey.bicep); IDPKEEPER_ACK_KEY becomes a Key Vault reference to it. Empty: no key, no links, and the anonymous Ack function accepts nothing.')
param ackKeySecretUri string = ''

@secure()
@description('IDPKEEPER_REPORT_URL: the Report function\'s HTML page with its function key, linked from notices to owners inside the organisation only. Empty: no link.')
param reportUrl string = ''

@description('Key Vault URI (https://<vault>.vault.azure.net/) holding the IdP credentials.')
param keyVaultUri string

@description('IDPKEEPER_APPLY: true lets jobs write the safe repairs (new social secret versions, connector certificates, federation plans under policy auto or approved). Follows enableRepair.')
param applyRepairs bool = false

@description('IDPKEEPER_PROBE_CREDENTIALS: true lets the scheduled connector probes read each connector\'s credential. Follows enableProbeCredentials (which grants Key Vault Secrets User).')
param probeCredentials bool = false

// Scale
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (IDPKEEPER_ACK_KEY) are resolved with the
    // user-assigned identity, which holds Secrets User on that secret.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        // Functions host storage, identity-based (no connection string).
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        // Application Insights with Entra ID auth (local auth is disabled).
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // Service Bus: the trigger extension and the Go sender (shared/jobs)
        // both read the identity-based form of the connection "ServiceBusConnection".
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: serviceBusFullyQualifiedNamespace }
        { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
        { name: 'ServiceBusConnection__clientId', value: identityClientId }
        // azidentity DefaultAzureCredential in the Go code: which identity.
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        // IdP Keeper settings (functions/settings.go, shared/jobs).
        { name: 'IDPKEEPER_CONFIG', value: configPath }
        { name: 'IDPKEEPER_STATE', value: storageBlobEndpoint }
        { name: 'IDPKEEPER_STATE_CONTAINER', value: stateContainerName }
        { name: 'IDPKEEPER_SCAN_SCHEDULE', value: scanSchedule }
        { name: 'IDPKEEPER_WATCH_SCHEDULE', value: watchSchedule }
        { name: 'IDPKEEPER_QUEUE_METADATA', value: queueMetadata }
        { name: 'IDPKEEPER_QUEUE_ROTATION', value: queueRotation }
        { name: 'IDPKEEPER_QUEUE_NOTICES', value: queueNotices }
        { name: 'IDPKEEPER_NOTICE_MAILBOX', value: noticeMailbox }
        { name: 'IDPKEEPER_KEYVAULT_URL', value: keyVaultUri }
        { name: 'IDPKEEPER_ACK_URL', value: ackUrl }
        { name: 'IDPKEEPER_ACK_KEY', value: empty(ackKeySecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${ackKeySecretUri})' }
        { name: 'IDPKEEPER_REPORT_URL', value: reportUrl }
        { name: 'IDPKEEPER_APPLY', value: applyRepairs ? 'true' : 'false' }
        { name: 'IDPKEEPER_PROBE_CREDENTIALS', value: probeCredentials ? 'true' : 'false' }
        // IDPKEEPER_SNAPSHOT is deliberately absent: in Azure the live tenant is scanned.
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output url string = 'https://${site.properties.defaultHostName}'
