// ackkey.bicep — the key that signs the acknowledgement links in notices
// (shared/acklink: HMAC-SHA256 over the finding, the pause and the link's
// expiry). The Ack function is anonymous, so its links carry no Functions
// key to partners; the signature is checked instead, with this key.
//
// The key is generated once by the azure.yaml postdeploy hook (crypto/rand,
// 32 bytes, base64) and kept in the azd environment (IDPKEEPER_ACK_KEY);
// this module stores it as a Key Vault secret and lets the app's identity
// read that one secret (Key Vault Secrets User scoped to the secret — Key
// Vault RBAC accepts a secret as a scope: learn.microsoft.com/azure/
// key-vault/general/rbac-guide, "Secret scope role assignment"). The app
// reads it through a Key Vault reference app setting (IDPKEEPER_ACK_KEY =
// @Microsoft.KeyVault(SecretUri=…), resolved by the platform with the
// site's keyVaultReferenceIdentity); no Go code reads a secret for it.
//
// Deployed in the vault's resource group (main.bicep scopes it there), only
// when a key was given.

@description('Name of the vault (new or existing) that keeps the key.')
param keyVaultName string

@description('Principal ID of the app\'s managed identity.')
param principalId string

@secure()
@description('The key: base64 of at least 32 random bytes.')
param ackLinkKey string

@description('Name of the secret.')
param secretName string = 'idpkeeper-ack-key'

var roleIds = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource ackKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    value: ackLinkKey
    contentType: 'base64 HMAC-SHA256 key of IdP Keeper acknowledgement links'
  }
}

resource ackKeyReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ackKey.id, principalId, roleIds.keyVaultSecretsUser)
  scope: ackKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Without a version: the reference follows the latest version, so a
// rotated key is picked up (the platform re-reads references within a day,
// or at once when the app restarts).
output secretUri string = '${vault.properties.vaultUri}secrets/${secretName}/'
output secretName string = ackKey.name
