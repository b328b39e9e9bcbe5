// keyvault.bicep — the Key Vault holding the IdP credentials (Google/Facebook
// client secrets, API connector passwords and certificates): a new one, or an
// existing one named by existingKeyVaultName.
//
// A new vault uses Azure RBAC (no access policies), soft delete and purge
// protection. Deploy this module in the vault's resource group (main.bicep
// scopes it there).
//
// Redeploys: `azd down` deletes the resource group, which only soft-deletes
// the vault; with purge protection its name stays taken for
// softDeleteRetentionInDays (Azure/azure-cli#29115), so main.bicep mixes a
// salt into the name that the azure.yaml postdown hook changes. The old vault
// stays recoverable (`az keyvault recover`) for that period; docs/deploy.md
// has the whole story.

@description('Name of the vault to create; ignored when existingKeyVaultName is set.')
param name string

@description('Name of an existing vault to use instead of creating one (in this module\'s resource group).')
param existingKeyVaultName string = ''

param location string
param tags object = {}

@description('Purge protection (recommended): a deleted vault cannot be purged before the retention period ends. Cannot be turned off once on.')
param purgeProtection bool = true

@description('Days a deleted vault stays recoverable (7–90; fixed at creation).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

var useExisting = !empty(existingKeyVaultName)

resource newVault 'Microsoft.KeyVault/vaults@2023-07-01' = if (!useExisting) {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Key Vault accepts true or null here, never false.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

resource existingVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (useExisting) {
  name: existingKeyVaultName
}

output id string = useExisting ? existingVault!.id : newVault!.id
output name string = useExisting ? existingVault!.name : newVault!.name
output uri string = useExisting ? existingVault!.properties.vaultUri : newVault!.properties.vaultUri
output location string = useExisting ? existingVault!.location : newVault!.location
// An existing vault may still use access policies: IdP Keeper's role
// assignments then have no effect (grant "list/get" secret permissions, or
// switch the vault to RBAC). Surfaced as an output so deploy.md can tell.
output rbacAuthorization bool = useExisting ? (existingVault!.properties.?enableRbacAuthorization ?? false) : true
output purgeProtection bool = useExisting ? (existingVault!.properties.?enablePurgeProtection ?? false) : purgeProtection
output softDeleteRetentionInDays int = useExisting ? (existingVault!.properties.?softDeleteRetentionInDays ?? 90) : softDeleteRetentionInDays
