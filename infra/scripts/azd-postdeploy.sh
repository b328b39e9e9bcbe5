#!/bin/sh
# azd postdeploy hook (azure.yaml). Two settings can only be made once the
# function code is deployed:
#   - the Event Grid subscription Key Vault → KeyVaultEvents: Event Grid
#     validates an AzureFunction endpoint when the subscription is created, so
#     the first provision leaves it out (IDPKEEPER_SUBSCRIBE_EVENTS=false);
#   - IDPKEEPER_ACK_URL: the Ack function's URL with its function key (the
#     key exists once the host has started), for links in owner notices.
# This hook sets both in the azd environment and provisions again; later runs
# find both set and do nothing. azd passes the environment (including the
# Bicep outputs functionAppName, functionAppUrl, resourceGroupName) to hooks.
set -eu

changed=false

if [ -z "${IDPKEEPER_ACK_URL:-}" ]; then
	if command -v az >/dev/null 2>&1; then
		key=$(az functionapp function keys list \
			--resource-group "${resourceGroupName:?}" --name "${functionAppName:?}" \
			--function-name Ack --query default --output tsv 2>/dev/null || true)
		if [ -n "$key" ]; then
			azd env set IDPKEEPER_ACK_URL "${functionAppUrl:?}/api/ack?code=${key}"
			changed=true
		else
			echo "postdeploy: no function key for Ack yet; IDPKEEPER_ACK_URL stays empty (run azd deploy again later)" >&2
		fi
	else
		echo "postdeploy: Azure CLI (az) not found; set IDPKEEPER_ACK_URL yourself (see docs/deploy.md)" >&2
	fi
fi

if [ "${IDPKEEPER_SUBSCRIBE_EVENTS:-false}" != "true" ]; then
	azd env set IDPKEEPER_SUBSCRIBE_EVENTS true
	changed=true
fi

if $changed; then
	echo "postdeploy: provisioning again (Key Vault event subscription, IDPKEEPER_ACK_URL)"
	azd provision --no-prompt
else
	echo "postdeploy: nothing to do"
fi
