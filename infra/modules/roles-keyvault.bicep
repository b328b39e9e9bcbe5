// roles-keyvault.bicep — Key Vault data-plane roles for the managed identity.
// Deployed in the vault's resource group (roles.bicep covers the others).
//
//   Key Vault Reader — always. A scan reads secret and certificate
//     *properties* (name, version, enabled, nbf, exp, tags, content type),
//     never a value; Key Vault Reader allows exactly that ("Read metadata of
//     key vaults and its certificates, keys, and secrets. Cannot read
//     sensitive values"). Not Key Vault Secrets User (that reads values).
//
//   Key Vault Secrets Officer — only with enableRepair (default false): the
//     later repair phase creates pending secret versions and updates tags.
//
// These roles only work on a vault using Azure RBAC
// (enableRbacAuthorization: true); keyvault.bicep creates it that way.

param principalId string
param keyVaultName string

@description('Also grant Key Vault Secrets Officer (repair phase; off by default).')
param enableRepair bool = false

var roleIds = {
  keyVaultReader: '21090545-7ca7-4776-b22c-e363652d74d2'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roleIds.keyVaultReader)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableRepair) {
  name: guid(vault.id, principalId, roleIds.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
