// main.bicep — IdP Keeper on Azure Functions Flex Consumption.
//
// Resource-group scope (azd creates the group: `azd up` → rg-<environment>).
// Deploys: user-assigned identity, Log Analytics + Application Insights,
// storage (identity-only), Service Bus (3 job queues), Key Vault (new or
// existing), the function app, Event Grid (Key Vault events → KeyVaultEvents),
// Azure RBAC, and Microsoft Graph app roles for the identity.
//
// Names the application code relies on are defined here once: the queue names
// (shared/jobs DefaultQueue*), the state container (functions/settings.go
// defaultContainer) and the Event Grid function name. shared/consistency
// checks them against function.json, local.settings.sample.json, the Service
// Bus emulator config and the Go source.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------- parameters

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name.')
param environmentName string

@description('Region for all resources (except an existing Key Vault and its system topic).')
param location string = resourceGroup().location

@description('Use this existing Key Vault (holding the IdP credentials) instead of creating one.')
param existingKeyVaultName string = ''

@description('Resource group of existingKeyVaultName (default: this one).')
param existingKeyVaultResourceGroup string = ''

@description('NCRONTAB (6 fields, UTC — Flex has no WEBSITE_TIME_ZONE) for ScanTimer.')
param scanSchedule string = '0 0 6 * * *'

@description('IDPKEEPER_CONFIG: config file path relative to the app root; empty: built-in defaults.')
param configPath string = ''

@description('IDPKEEPER_NOTICE_MAILBOX: UPN or object ID of the mailbox that sends owner notices; empty: no mail.')
param noticeMailbox string = ''

@secure()
@description('IDPKEEPER_ACK_URL: the Ack function URL with its function key, for links in notices. Set by the azure.yaml postdeploy hook once the code is deployed; empty: notices say to run `idpkeeper ack`.')
param ackUrl string = ''

@description('Grant Microsoft Graph app roles with the Graph Bicep extension (needs Privileged Role Administrator). False: run infra/scripts/grant-graph-permissions.sh instead.')
param grantGraphPermissions bool = true

@description('Create the Event Grid subscription to KeyVaultEvents. Needs the code deployed first (azure.yaml postdeploy sets it).')
param subscribeKeyVaultEvents bool = false

@description('Grant Graph Mail.Send in Entra ID (restrict it with an Exchange application access policy). False when Exchange RBAC for Applications grants "Application Mail.Send" instead.')
param graphMailSend bool = true

@description('Repair phase (off): Graph ReadWrite permissions and Key Vault Secrets Officer.')
param enableRepair bool = false

@description('Flex Consumption instance memory (MB).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Flex Consumption maximum instance count.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// ----------------------------------------------------------------- names

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  application: 'idpkeeper'
}

var names = {
  identity: 'id-idpkeeper-${resourceToken}'
  logAnalytics: 'log-idpkeeper-${resourceToken}'
  applicationInsights: 'appi-idpkeeper-${resourceToken}'
  storage: 'stidpk${resourceToken}'
  serviceBus: 'sb-idpkeeper-${resourceToken}'
  keyVault: 'kv-idpk-${resourceToken}'
  plan: 'plan-idpkeeper-${resourceToken}'
  functionApp: 'func-idpkeeper-${resourceToken}'
  systemTopic: 'evgt-idpkeeper-${resourceToken}'
}

// The job queues (IDPKEEPER_QUEUE_METADATA / _ROTATION / _NOTICES).
var queues = {
  metadata: 'idpkeeper-metadata'
  rotation: 'idpkeeper-rotation'
  notices: 'idpkeeper-notices'
}

// Blob containers.
var deploymentContainerName = 'app-package'
var stateContainerName = 'idpkeeper'
var deadLetterContainerName = 'eventgrid-deadletter'

// The Event Grid–triggered function (folder functions/KeyVaultEvents).
var keyVaultEventsFunction = 'KeyVaultEvents'

var keyVaultResourceGroup = empty(existingKeyVaultName) || empty(existingKeyVaultResourceGroup)
  ? resourceGroup().name
  : existingKeyVaultResourceGroup

// ----------------------------------------------------------------- modules

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    stateContainerName: stateContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    queueNames: [
      queues.metadata
      queues.rotation
      queues.notices
    ]
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: resourceGroup(keyVaultResourceGroup)
  params: {
    name: names.keyVault
    existingKeyVaultName: existingKeyVaultName
    location: location
    tags: tags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module keyVaultRoles 'modules/roles-keyvault.bicep' = {
  name: 'roles-keyvault'
  scope: resourceGroup(keyVaultResourceGroup)
  params: {
    principalId: identity.outputs.principalId
    keyVaultName: keyVault.outputs.name
    enableRepair: enableRepair
  }
}

module graphPermissions 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  params: {
    principalId: identity.outputs.principalId
    enableMailSend: graphMailSend
    enableRepair: enableRepair
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    applyRepairs: enableRepair
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    stateContainerName: storage.outputs.stateContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    queueMetadata: queues.metadata
    queueRotation: queues.rotation
    queueNotices: queues.notices
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    scanSchedule: scanSchedule
    configPath: configPath
    noticeMailbox: noticeMailbox
    ackUrl: ackUrl
    keyVaultUri: keyVault.outputs.uri
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The host reads its storage and the deployment package with the identity:
  // the roles must exist before the app starts.
  dependsOn: [
    roles
  ]
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: resourceGroup(keyVaultResourceGroup)
  params: {
    keyVaultName: keyVault.outputs.name
    location: keyVault.outputs.location
    tags: tags
    systemTopicName: names.systemTopic
    functionAppId: functionApp.outputs.id
    functionName: keyVaultEventsFunction
    createSubscription: subscribeKeyVaultEvents
    identityId: identity.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [
    roles
  ]
}

// ----------------------------------------------------------------- outputs
// azd writes these to .azure/<env>/.env; README.md and docs/deploy.md use them.

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output functionAppName string = functionApp.outputs.name
output functionAppUrl string = functionApp.outputs.url
output managedIdentityClientId string = identity.outputs.clientId
output managedIdentityPrincipalId string = identity.outputs.principalId
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output storageAccountName string = storage.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output keyVaultName string = keyVault.outputs.name
output keyVaultRbacAuthorization bool = keyVault.outputs.rbacAuthorization
output resourceGroupName string = resourceGroup().name
