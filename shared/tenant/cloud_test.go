package tenant_test

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// scopeRecorder is a credential that remembers which scopes it was asked for.
type scopeRecorder struct {
	mu     sync.Mutex
	scopes map[string]bool
}

func (s *scopeRecorder) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range o.Scopes {
		s.scopes[sc] = true
	}
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// In a national cloud every Graph request goes to that cloud's Graph root,
// the token is asked for with that root's .default scope
// (national-clouds.md), and the vaults are that cloud's.
func TestNationalCloudsUseTheirGraphRootScopeAndVaults(t *testing.T) {
	for _, tc := range []struct {
		cloud     tenant.Cloud
		graphHost string
		vault     string
		kvScope   string
		authority string
	}{
		{tenant.CloudUSGov, "graph.microsoft.us", "contoso-idp-kv.vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net/.default", "https://login.microsoftonline.us/"},
		{tenant.CloudChina, "microsoftgraph.chinacloudapi.cn", "contoso-idp-kv.vault.azure.cn", "https://vault.azure.cn/.default", "https://login.chinacloudapi.cn/"},
		{tenant.CloudPublic, "graph.microsoft.com", "contoso-idp-kv.vault.azure.net", "https://vault.azure.net/.default", "https://login.microsoftonline.com/"},
	} {
		t.Run(tc.cloud.Name, func(t *testing.T) {
			tn := exampleTenant(t)
			tn.Vaults = map[string]*azurefake.Vault{tc.vault: tn.Vaults["contoso-idp-kv.vault.azure.net"]}
			srv := azurefake.NewServer(tn)
			defer srv.Close()
			cred := &scopeRecorder{scopes: map[string]bool{}}
			clients, err := tenant.NewClients(cred, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: []string{"https://" + tc.vault + "/"}, Cloud: tc.cloud})
			if err != nil {
				t.Fatal(err)
			}
			inv, err := (&tenant.Reader{Clients: clients}).Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Federations) != 4 || len(inv.Secrets) != 5 {
				t.Fatalf("read %d federations, %d secrets", len(inv.Federations), len(inv.Secrets))
			}
			hosts := map[string]bool{}
			for _, r := range srv.Requests() {
				hosts[r.Host] = true
			}
			if !hosts[tc.graphHost] || !hosts[tc.vault] || len(hosts) != 2 {
				t.Errorf("requests went to %v", hosts)
			}
			var scopes []string
			for s := range cred.scopes {
				scopes = append(scopes, s)
			}
			sort.Strings(scopes)
			if want := []string{"https://" + tc.graphHost + "/.default", tc.kvScope}; !reflect.DeepEqual(scopes, want) {
				t.Errorf("token scopes %v, want %v", scopes, want)
			}
			if got := tc.cloud.AzCore().ActiveDirectoryAuthorityHost; got != tc.authority {
				t.Errorf("authority host %s, want %s", got, tc.authority)
			}
		})
	}
	if _, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{KeyVaultURLs: []string{"https://kv.vault.azure.net/"}, Cloud: tenant.CloudUSGov}); err == nil || !strings.Contains(err.Error(), "not a vault of the usgov cloud") {
		t.Errorf("a public-cloud vault under usgov: %v", err)
	}
}

// The config's cloud names and vault suffixes are the clouds this package
// knows.
func TestConfigCloudsMatch(t *testing.T) {
	if !reflect.DeepEqual(config.CloudNames(), tenant.CloudNames()) {
		t.Fatalf("config clouds %v, tenant clouds %v", config.CloudNames(), tenant.CloudNames())
	}
	for _, name := range tenant.CloudNames() {
		c, _ := tenant.CloudByName(name)
		if config.CloudKeyVaultSuffix[name] != c.KeyVaultSuffix {
			t.Errorf("%s: config suffix %q, tenant %q", name, config.CloudKeyVaultSuffix[name], c.KeyVaultSuffix)
		}
	}
	if _, err := tenant.CloudByName("mars"); err == nil {
		t.Error("an unknown cloud was accepted")
	}
}
