package azurefake_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// The write routes behave as Graph and Key Vault do for the real SDK
// clients: write-only values are masked on read, a secret write makes a new
// version, a tag update changes only that version.
func TestWritesThroughTheSDKs(t *testing.T) {
	tn, err := azurefake.LoadTenant(filepath.Join("..", "..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: []string{"https://contoso-idp-kv.vault.azure.net/"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	patch := models.NewSocialIdentityProvider()
	patch.SetClientSecret(to.Ptr("new-google-secret"))
	if _, err := clients.Graph.Identity().IdentityProviders().ByIdentityProviderBaseId("Google-OAUTH").Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}
	// identityproviderbase-get.md answers without @odata.type: the tenant
	// package's read tells the type from the properties.
	got, found, err := clients.Graph.IdentityProvider(ctx, "Google-OAUTH")
	if err != nil || !found {
		t.Fatal(err, found)
	}
	if s, ok := got.(models.SocialIdentityProviderable); !ok || *s.GetClientSecret() != "******" {
		t.Fatalf("read back %T with the secret not masked", got)
	}
	if srv.CredentialOf("Google-OAUTH") != "new-google-secret" {
		t.Fatal("the PATCH did not set the client secret")
	}

	kv := clients.Vaults[0].Client
	set, err := kv.SetSecret(ctx, "google-client-secret", azsecrets.SetSecretParameters{Value: to.Ptr("v3"), Tags: map[string]*string{"idpkeeper-dependency": to.Ptr("social/Google-OAUTH")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.UpdateSecretProperties(ctx, "google-client-secret", set.ID.Version(), azsecrets.UpdateSecretPropertiesParameters{Tags: map[string]*string{"idpkeeper-applied": to.Ptr("2026-11-24")}}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Writes()); n != 3 {
		t.Fatalf("%d writes recorded, want 3", n)
	}
}
