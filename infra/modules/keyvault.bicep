// keyvault.bicep — the Key Vault holding the IdP credentials (Google/Facebook
// client secrets, API connector passwords and certificates): a new one, or an
// existing one named by existingKeyVaultName.
//
// A new vault uses Azure RBAC (no access policies), soft delete and purge
// protection. Deploy this module in the vault's resource group (main.bicep
// scopes it there).

@description('Name of the vault to create; ignored when existingKeyVaultName is set.')
param name string

@description('Name of an existing vault to use instead of creating one (in this module\'s resource group).')
param existingKeyVaultName string = ''

param location string
param tags object = {}

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
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
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
