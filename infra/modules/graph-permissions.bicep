// graph-permissions.bicep — Microsoft Graph application permissions (app
// roles) for the managed identity's service principal, with the Microsoft
// Graph Bicep extension (infra/bicepconfig.json: microsoftGraphV1 →
// br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0; needs
// Bicep ≥ 0.36.1).
//
// Who can deploy this: granting application permissions of Microsoft Graph is
// admin consent. The deploying user needs Privileged Role Administrator (or
// Global Administrator) in Entra ID, or an identity holding
// AppRoleAssignment.ReadWrite.All + Application.Read.All. Where that is not
// possible, deploy with grantGraphPermissions=false and have an admin run
// infra/scripts/grant-graph-permissions.sh (same list, az CLI).
//
// The list is the one in shared/tenant/permissions.go (GraphPermissions);
// shared/consistency fails when they drift. App role IDs are resolved by
// value from the Microsoft Graph service principal (appId
// 00000003-0000-0000-c000-000000000000), so no GUID is hard-coded. For
// reviewers, the IDs they resolve to (identical in every tenant):
//   IdentityProvider.Read.All       e321f0bb-e7f7-481e-bb28-e3b0b32d4bd0
//   APIConnectors.Read.All          b86848a7-d5b1-41eb-a9b4-54a4e6306e97
//   IdentityUserFlow.Read.All       1b0c317f-dd31-4305-9932-259a8b6e8099
//   Policy.Read.All                 246dd0d5-5bd0-4def-940b-0421030a5b68
//   Mail.Send                       b633e1c5-b582-4048-a93e-9f11b44c7e96
//   repair phase (enableRepair):
//   IdentityProvider.ReadWrite.All  90db2b9a-d928-4d33-a4dd-8442ae3d41e4
//   APIConnectors.ReadWrite.All     1dfe531a-24a6-4f1b-80f4-7a0dc5a0a171
//
// Mail.Send is tenant-wide as an application permission: restrict it to the
// one notice mailbox with Exchange Online RBAC for Applications (or an
// application access policy) — see docs/deploy.md.

extension microsoftGraphV1

@description('Object ID of the managed identity\'s service principal (identity principalId).')
param principalId string

@description('Grant Mail.Send (owner notices by mail). Scope it to one mailbox in Exchange Online.')
param enableMailSend bool = true

@description('Repair (main.bicep enableRepair, which also sets IDPKEEPER_APPLY=true): also grant IdentityProvider.ReadWrite.All and APIConnectors.ReadWrite.All, which the repair jobs use to PATCH identity providers, federation configurations and API connectors and to upload connector certificates (shared/tenant/permissions.go, phase repair).')
param enableRepair bool = false

// Read-only permissions the scan needs (README "Against a live tenant").
var readPermissions = [
  'IdentityProvider.Read.All'
  'APIConnectors.Read.All'
  'IdentityUserFlow.Read.All'
  'Policy.Read.All'
]

var mailPermissions = enableMailSend ? ['Mail.Send'] : []

// Later, issue "repair": write access to social IdPs, SAML/WS-Fed partners
// and API connectors.
var repairPermissions = enableRepair
  ? [
      'IdentityProvider.ReadWrite.All'
      'APIConnectors.ReadWrite.All'
    ]
  : []

var permissions = concat(readPermissions, mailPermissions, repairPermissions)

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for permission in permissions: {
    resourceId: graph.id
    principalId: principalId
    appRoleId: filter(graph.appRoles, role => role.value == permission && contains(role.allowedMemberTypes, 'Application'))[0].id
  }
]

output grantedPermissions array = permissions
