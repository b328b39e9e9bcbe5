package main

import (
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/config"
)

// The credential for a live tenant gets its tokens from the authority of
// the config's cloud (national-clouds.md: the credential must use the
// national cloud's token service).
func TestCredentialUsesTheConfiguredCloud(t *testing.T) {
	for cloud, authority := range map[string]string{
		"":       "https://login.microsoftonline.com/",
		"public": "https://login.microsoftonline.com/",
		"usgov":  "https://login.microsoftonline.us/",
		"china":  "https://login.chinacloudapi.cn/",
	} {
		cfg := config.Default()
		cfg.Tenant.Cloud = cloud
		opts, err := credentialOptions(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := opts.ClientOptions.Cloud.ActiveDirectoryAuthorityHost; got != authority {
			t.Errorf("cloud %q: authority %s, want %s", cloud, got, authority)
		}
	}
	cfg := config.Default()
	cfg.Tenant.Cloud = "mars"
	if _, err := credentialOptions(cfg); err == nil {
		t.Error("an unknown cloud gave a credential")
	}
}
