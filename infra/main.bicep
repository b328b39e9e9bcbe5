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

@description('NCRONTAB (6 fields, UTC) for WatchTimer, the endpoint watch: every 10 minutes by default.')
param watchSchedule string = '0 */10 * * * *'

@description('IDPKEEPER_CONFIG: config file path relative to the app root; empty: built-in defaults.')
param configPath string = ''

@description('IDPKEEPER_NOTICE_MAILBOX: UPN or object ID of the mailbox that sends owner notices; empty: no mail.')
param noticeMailbox string = ''

@description('IDPKEEPER_ACK_URL: the Ack function URL (https://<app>/api/ack), without any key: the links in notices are signed with ackLinkKey instead. Set by the azure.yaml postdeploy hook once the code is deployed; empty: notices say to run `idpkeeper ack`.')
param ackUrl string = ''

@secure()
@description('The key that signs acknowledgement links (base64 of 32 random bytes): stored as Key Vault secret idpkeeper-ack-key, read by the app through a Key Vault reference (IDPKEEPER_ACK_KEY). Generated once by the azure.yaml postdeploy hook; empty: no links.')
param ackLinkKey string = ''

@secure()
@description('IDPKEEPER_REPORT_URL: the Report function\'s HTML page with its function key (https://<app>/api/report?format=html&code=<key>); notices to owners inside the organisation link to their finding in it. Set by the azure.yaml postdeploy hook; empty: no link.')
param reportUrl string = ''

@description('Grant Microsoft Graph app roles with the Graph Bicep extension (needs Privileged Role Administrator), in the complete phase. False: run infra/scripts/grant-graph-permissions.sh instead.')
param grantGraphPermissions bool = true

@description('''initial: everything that can exist before the code (first provision of `azd up`). complete: also the Event Grid subscription to KeyVaultEvents (Event Grid validates the function when it is created) and the Graph app-role grants (the managed identity must have replicated to Microsoft Graph, msgraph-bicep-types#193). The azure.yaml postdeploy hook sets complete and provisions again; postdown sets initial.''')
@allowed([
  'initial'
  'complete'
])
param deployPhase string = 'initial'

@description('Grant Graph Mail.Send in Entra ID (restrict it with an Exchange application access policy). False when Exchange RBAC for Applications grants "Application Mail.Send" instead.')
param graphMailSend bool = true

@description('Repair (off): jobs write the safe repairs (IDPKEEPER_APPLY=true); grants Graph IdentityProvider/APIConnectors ReadWrite and Key Vault Secrets Officer.')
param enableRepair bool = false

@description('Connector probes with credentials (off): the scheduled API connector probes read each connector\'s password or certificate (IDPKEEPER_PROBE_CREDENTIALS=true); grants Key Vault Secrets User. Off: no secret value is read, probes report no-credential.')
param enableProbeCredentials bool = false

@description('Comma-separated names of the Key Vault secrets backing the connectors and IdPs (they must exist). Set: Secrets User / Secrets Officer are granted on these secrets only. Empty: on the whole vault (RBAC cannot scope to a secret that does not exist yet).')
param credentialSecretNames string = ''

@description('Mixed into the name of the vault infra creates. The azure.yaml postdown hook changes it, so `azd up` after `azd down` does not collide with the soft-deleted vault (purge protection keeps its name taken for the retention period).')
param keyVaultNameSalt string = ''

@description('Purge protection on the vault infra creates (recommended; cannot be turned off once on). Off only for throw-away environments: `azd down --purge` can then free the name at once.')
param keyVaultPurgeProtection bool = true

@description('Days a deleted vault (and its secrets) stays recoverable, 7–90. Cannot be changed after creation.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionDays int = 90

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
  // 'kv-idpk-' + 13 characters: 21 of the 24 a vault name allows. With a
  // salt (after azd down) the name changes; without one it is the name
  // earlier versions created.
  keyVault: empty(keyVaultNameSalt) ? 'kv-idpk-${resourceToken}' : 'kv-idpk-${toLower(uniqueString(resourceToken, keyVaultNameSalt))}'
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

var completePhase = deployPhase == 'complete'

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
    purgeProtection: keyVaultPurgeProtection
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionDays
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    queueNames: serviceBus.outputs.queueNames
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
    enableProbeCredentials: enableProbeCredentials
    credentialSecretNames: empty(credentialSecretNames) ? [] : map(split(credentialSecretNames, ','), n => trim(n))
  }
}

// In the complete phase only: the identity was created by the first
// provision, minutes earlier, and has replicated to Microsoft Graph by now
// (a grant to a brand-new principal fails: msgraph-bicep-types#193). The
// postdeploy hook retries the provision and, if it keeps failing, says what
// to re-run.
module graphPermissions 'modules/graph-permissions.bicep' = if (grantGraphPermissions && completePhase) {
  name: 'graph-permissions'
  params: {
    principalId: identity.outputs.principalId
    enableMailSend: graphMailSend
    enableRepair: enableRepair
  }
}

// The acknowledgement link key, in the vault, readable by the app's
// identity only as that one secret.
module ackKey 'modules/ackkey.bicep' = if (!empty(ackLinkKey)) {
  name: 'ackkey'
  scope: resourceGroup(keyVaultResourceGroup)
  params: {
    keyVaultName: keyVault.outputs.name
    principalId: identity.outputs.principalId
    ackLinkKey: ackLinkKey
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    applyRepairs: enableRepair
    probeCredentials: enableProbeCredentials
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
    watchSchedule: watchSchedule
    configPath: configPath
    noticeMailbox: noticeMailbox
    ackUrl: ackUrl
    ackKeySecretUri: empty(ackLinkKey) ? '' : ackKey!.outputs.secretUri
    reportUrl: reportUrl
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
    createSubscription: completePhase
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
// Read by the postdown hook to tell the purge story.
output keyVaultPurgeProtection bool = keyVault.outputs.purgeProtection
output keyVaultSoftDeleteRetentionDays int = keyVault.outputs.softDeleteRetentionInDays
output deployPhase string = deployPhase
output resourceGroupName string = resourceGroup().name
