package access_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/access"
	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

const vaultURL = "https://contoso-idp-kv.vault.azure.net/"

func fake(t *testing.T) (*azurefake.Server, *tenant.Clients) {
	t.Helper()
	tn, err := azurefake.LoadTenant(filepath.Join("..", "..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := azurefake.NewServer(tn)
	t.Cleanup(srv.Close)
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: []string{vaultURL}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, clients
}

// A 403 from Key Vault, through the real azsecrets client, becomes a
// permanent error naming the role and the vault.
func TestKeyVault403NamesTheRole(t *testing.T) {
	srv, clients := fake(t)
	// Key Vault's answer to a caller without a data-plane role (RBAC):
	// 403 with error code Forbidden (learn.microsoft.com/azure/key-vault/general/rbac-guide,
	// "Troubleshooting": "Caller is not authorized to perform action on resource").
	srv.AddFault(azurefake.Fault{PathPrefix: "/secrets/facebook-app-secret", Status: 403, Code: "Forbidden",
		Message: "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"})
	_, err := clients.Vaults[0].Client.GetSecret(context.Background(), "facebook-app-secret", "", nil)
	if err == nil {
		t.Fatal("the fault was not served")
	}
	got := access.Classify(fmt.Errorf("repair: reading: %w", err), access.Need{KeyVault: access.Repair})
	if !jobs.IsPermanent(got) || !access.IsDenied(got) {
		t.Fatalf("a Key Vault 403 is not permanent: %v", got)
	}
	for _, want := range []string{`grant "Key Vault Secrets Officer"`, "vault contoso-idp-kv", "HTTP 403", "IDPKEEPER_ENABLE_REPAIR"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("%q does not say %q", got, want)
		}
	}
	probe := access.Classify(err, access.Need{KeyVault: access.ProbeCredentials})
	if !strings.Contains(probe.Error(), `"Key Vault Secrets User"`) || !strings.Contains(probe.Error(), "IDPKEEPER_ENABLE_PROBE_CREDENTIALS") {
		t.Errorf("a probe's 403 should ask for Key Vault Secrets User: %v", probe)
	}
}

func TestGraph403NamesThePermission(t *testing.T) {
	srv, clients := fake(t)
	// Graph's answer without the application permission: 403
	// Authorization_RequestDenied (learn.microsoft.com/graph/errors).
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/identityProviders", Status: 403, Code: "Authorization_RequestDenied",
		Message: "Insufficient privileges to complete the operation."})
	_, err := clients.Graph.Identity().IdentityProviders().Get(context.Background(), nil)
	if err == nil {
		t.Fatal("the fault was not served")
	}
	got := access.Classify(err, access.Need{Graph: "IdentityProvider.ReadWrite.All", GraphFeature: access.Repair})
	if !jobs.IsPermanent(got) {
		t.Fatalf("a Graph 403 is not permanent: %v", got)
	}
	for _, want := range []string{`grant "IdentityProvider.ReadWrite.All"`, "Authorization_RequestDenied", "Microsoft Graph"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("%q does not say %q", got, want)
		}
	}
}

// Anything but a 403 is left to the caller: a 404, 429 or 500 means
// something else (the SDKs retry 429/5xx themselves).
func TestOtherFailuresPassThrough(t *testing.T) {
	srv, clients := fake(t)
	srv.AddFault(azurefake.Fault{PathPrefix: "/secrets", Status: 404, Code: "SecretNotFound"})
	_, err := clients.Vaults[0].Client.GetSecret(context.Background(), "facebook-app-secret", "", nil)
	if err == nil {
		t.Fatal("the fault was not served")
	}
	if got := access.Classify(err, access.Need{KeyVault: access.Repair}); got != err || jobs.IsPermanent(got) {
		t.Errorf("a 404 became %v", got)
	}
	plain := errors.New("dial tcp: connection refused")
	if access.Classify(plain, access.Need{}) != plain || access.Classify(nil, access.Need{}) != nil {
		t.Error("non-HTTP errors must pass through")
	}
}

// Every feature that switches something on names the app setting, the infra
// parameter and the azd variable (shared/consistency reads them from infra).
func TestFeaturesAreSwitchable(t *testing.T) {
	for _, f := range access.Features {
		if f.Name == access.Scan.Name || f.Name == access.OperatorProbe.Name {
			continue // nothing to switch: always on / the operator's own identity
		}
		if f.Setting == "" || f.InfraParam == "" || f.AzdEnv == "" || !strings.Contains(f.Enable(), f.AzdEnv) {
			t.Errorf("feature %q: setting %q, param %q, azd %q", f.Name, f.Setting, f.InfraParam, f.AzdEnv)
		}
	}
}
