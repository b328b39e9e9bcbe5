// roles-keyvault.bicep — Key Vault data-plane roles for the managed identity.
// Deployed in the vault's resource group (roles.bicep covers the others).
//
// Each role follows a feature switch, and the code reads a secret value only
// where that switch is on (shared/access: Features, ValueReaders;
// shared/consistency checks roles granted ⇔ features enabled ⇔ calls made):
//
//   Key Vault Reader — always, on the vault. A scan, a dry run and the
//     KeyVaultEvents handler read secret and certificate *properties* (name,
//     version, enabled, nbf, exp, tags, content type), never a value: "Read
//     metadata of key vaults and its certificates, keys, and secrets. Cannot
//     read sensitive values".
//
//   Key Vault Secrets User — only with enableProbeCredentials: the
//     scheduled API connector probes read each connector's password or
//     certificate ("Read secret contents"). Off: probes run without it and
//     report no-credential.
//
//   Key Vault Secrets Officer — only with enableRepair: repairs read the
//     value they apply right before writing it, tag versions and create the
//     pending versions of a staged rotation.
//
// Scope: the vault, or — when credentialSecretNames lists them — each of
// those secrets only (Key Vault RBAC accepts a role assignment on a single
// secret: learn.microsoft.com/azure/key-vault/general/rbac-guide, "Secret
// scope role assignment"). A secret must exist to be a scope, hence the
// vault-wide default. Reader stays on the vault (listing needs it).
//
// These roles only work on a vault using Azure RBAC
// (enableRbacAuthorization: true); keyvault.bicep creates it that way.

param principalId string
param keyVaultName string

@description('Grant Key Vault Secrets Officer (repair; off by default).')
param enableRepair bool = false

@description('Grant Key Vault Secrets User (connector probes with credentials; off by default).')
param enableProbeCredentials bool = false

@description('Secrets to scope Secrets User / Secrets Officer to; empty: the vault.')
param credentialSecretNames array = []

var roleIds = {
  keyVaultReader: '21090545-7ca7-4776-b22c-e363652d74d2'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

var perSecret = !empty(credentialSecretNames)

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [
  for name in credentialSecretNames: {
    parent: vault
    name: name
  }
]

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roleIds.keyVaultReader)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableProbeCredentials && !perSecret) {
  name: guid(vault.id, principalId, roleIds.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUserPerSecret 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in credentialSecretNames: if (enableProbeCredentials && perSecret) {
    name: guid(secrets[i].id, principalId, roleIds.keyVaultSecretsUser)
    scope: secrets[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableRepair && !perSecret) {
  name: guid(vault.id, principalId, roleIds.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsOfficerPerSecret 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in credentialSecretNames: if (enableRepair && perSecret) {
    name: guid(secrets[i].id, principalId, roleIds.keyVaultSecretsOfficer)
    scope: secrets[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
