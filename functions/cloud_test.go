package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
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

// The state store's and Service Bus's credentials are made for the
// config's cloud, like the tenant's: every door that opens them (the
// Functions app, ack, jobs dead-letters) passes the config on.
func TestStateAndServiceBusCredentialsFollowTheCloud(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "idpkeeper.yaml")
	os.WriteFile(cfgFile, []byte("version: 1\ntenant:\n  cloud: usgov\n"), 0o644)
	t.Setenv(settingConfig, cfgFile)
	t.Setenv(settingState, "https://stidpk.blob.core.usgovcloudapi.net/")
	t.Setenv(settingSnapshot, "")
	t.Setenv(jobs.SettingConnection, "")
	t.Setenv(jobs.SettingNamespace, "sb-idpkeeper.servicebus.usgovcloudapi.net")
	var clouds []string
	credentialFor = func(cfg *config.Config) (azcore.TokenCredential, error) {
		if cfg == nil {
			clouds = append(clouds, "<no config>")
		} else {
			clouds = append(clouds, cfg.Tenant.Cloud)
		}
		return nil, errors.New("test: no credential")
	}
	t.Cleanup(func() { credentialFor = credential })

	until := time.Now().AddDate(0, 0, 3).Format("2006-01-02")
	if code, _, errOut := runCLI(t, "ack", "F-0123456789ab", "--until", until); code != exitRead || !strings.Contains(errOut, "test: no credential") {
		t.Errorf("ack: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "jobs", "dead-letters"); code != exitRead || !strings.Contains(errOut, "test: no credential") {
		t.Errorf("jobs dead-letters: exit %d %s", code, errOut)
	}
	if _, _, err := azurePipeline(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "test: no credential") {
		t.Errorf("azurePipeline: %v", err)
	}
	if len(clouds) < 3 {
		t.Fatalf("credentials made: %v", clouds)
	}
	for _, c := range clouds {
		if c != "usgov" {
			t.Errorf("a credential was made for %q, want usgov (all: %v)", c, clouds)
		}
	}
}
