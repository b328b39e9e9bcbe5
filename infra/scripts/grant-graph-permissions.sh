#!/usr/bin/env bash
# grant-graph-permissions.sh — grant IdP Keeper's Microsoft Graph application
# permissions (app roles) to the managed identity's service principal with the
# Azure CLI. The alternative to infra/modules/graph-permissions.bicep for
# tenants where the deployer cannot use the Microsoft Graph Bicep extension
# (deploy with grantGraphPermissions=false, then have an admin run this).
#
# Who can run it: Privileged Role Administrator or Global Administrator
# (granting Graph application permissions is admin consent).
#
# Usage:
#   infra/scripts/grant-graph-permissions.sh <managed identity principal ID> [--repair] [--no-mail] [--dry-run]
#   (principal ID = azd output managedIdentityPrincipalId:
#    azd env get-value managedIdentityPrincipalId)
#
# The permission list is the one in shared/tenant/permissions.go
# (GraphPermissions) and infra/modules/graph-permissions.bicep; shared/consistency
# fails when they drift. App role IDs are looked up by value on the Microsoft
# Graph service principal; the IDs they resolve to (same in every tenant):
#   IdentityProvider.Read.All       e321f0bb-e7f7-481e-bb28-e3b0b32d4bd0
#   APIConnectors.Read.All          b86848a7-d5b1-41eb-a9b4-54a4e6306e97
#   IdentityUserFlow.Read.All       1b0c317f-dd31-4305-9932-259a8b6e8099
#   Policy.Read.All                 246dd0d5-5bd0-4def-940b-0421030a5b68
#   Mail.Send                       b633e1c5-b582-4048-a93e-9f11b44c7e96
#   IdentityProvider.ReadWrite.All  90db2b9a-d928-4d33-a4dd-8442ae3d41e4  (--repair)
#   APIConnectors.ReadWrite.All     1dfe531a-24a6-4f1b-80f4-7a0dc5a0a171  (--repair)
#
# Re-running is safe: a permission already granted is skipped.
set -euo pipefail

GRAPH_APP_ID=00000003-0000-0000-c000-000000000000

READ_PERMISSIONS=(
	IdentityProvider.Read.All
	APIConnectors.Read.All
	IdentityUserFlow.Read.All
	Policy.Read.All
)
MAIL_PERMISSIONS=(
	Mail.Send
)
REPAIR_PERMISSIONS=(
	IdentityProvider.ReadWrite.All
	APIConnectors.ReadWrite.All
)

usage() {
	sed -n '2,16p' "$0" >&2
	exit 2
}

principal=""
repair=false
mail=true
dry_run=false
for arg in "$@"; do
	case "$arg" in
	--repair) repair=true ;;
	--no-mail) mail=false ;;
	--dry-run) dry_run=true ;;
	-h | --help) usage ;;
	-*) echo "unknown option: $arg" >&2; usage ;;
	*) principal="$arg" ;;
	esac
done
[ -n "$principal" ] || usage

permissions=("${READ_PERMISSIONS[@]}")
if $mail; then permissions+=("${MAIL_PERMISSIONS[@]}"); fi
if $repair; then permissions+=("${REPAIR_PERMISSIONS[@]}"); fi

graph_sp=$(az ad sp show --id "$GRAPH_APP_ID" --query id -o tsv)
existing=$(az rest --method GET \
	--url "https://graph.microsoft.com/v1.0/servicePrincipals/${principal}/appRoleAssignments" \
	--query "value[?resourceId=='${graph_sp}'].appRoleId" -o tsv)

for permission in "${permissions[@]}"; do
	role_id=$(az ad sp show --id "$GRAPH_APP_ID" \
		--query "appRoles[?value=='${permission}' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
	if [ -z "$role_id" ]; then
		echo "error: Microsoft Graph has no application permission named ${permission}" >&2
		exit 1
	fi
	if grep -qx "$role_id" <<<"$existing"; then
		echo "already granted: ${permission} (${role_id})"
		continue
	fi
	echo "granting: ${permission} (${role_id})"
	if $dry_run; then continue; fi
	az rest --method POST \
		--url "https://graph.microsoft.com/v1.0/servicePrincipals/${principal}/appRoleAssignments" \
		--headers 'Content-Type=application/json' \
		--body "{\"principalId\":\"${principal}\",\"resourceId\":\"${graph_sp}\",\"appRoleId\":\"${role_id}\"}" \
		--output none
done

if $mail; then
	cat <<'NOTE'

Mail.Send granted in Entra ID is tenant-wide (any mailbox). Restrict it to the
notice mailbox with an Exchange Online application access policy, e.g.
  New-ApplicationAccessPolicy -AppId <managedIdentityClientId> \
    -PolicyScopeGroupId <mail-enabled security group holding the mailbox> \
    -AccessRight RestrictAccess -Description "IdP Keeper notices"
Or use Exchange RBAC for Applications instead: run this script with --no-mail
(grants in Entra ID and Exchange add up, so the Entra grant must be absent) and
assign the Exchange role "Application Mail.Send" with a management scope.
See docs/deploy.md.
NOTE
fi
