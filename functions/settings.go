package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// App settings (environment variables) read by both doors. Each is listed,
// with its meaning, in README.md and local.settings.sample.json.
const (
	settingConfig    = "IDPKEEPER_CONFIG"   // path of the config file; empty: built-in defaults
	settingSnapshot  = "IDPKEEPER_SNAPSHOT" // snapshot folder to scan instead of the live tenant
	settingState     = "IDPKEEPER_STATE"    // folder, https blob service URL, or storage connection string
	settingContainer = "IDPKEEPER_STATE_CONTAINER"
	// Deployment settings that fill in the config, so an Azure deployment
	// works without a config file: the vault infra created and the mailbox
	// that sends notices.
	settingKeyVault = "IDPKEEPER_KEYVAULT_URL"
	settingMailbox  = "IDPKEEPER_NOTICE_MAILBOX"
	// settingApply lets jobs write the safe repairs; anything else than
	// "true" keeps them in dry run (they plan, journal nothing, notify).
	settingApply = "IDPKEEPER_APPLY"
	// settingProbeCredentials lets the scheduled connector probes read each
	// connector's credential from Key Vault ("true"; infra grants Key Vault
	// Secrets User with it). Anything else: no value is read and the probes
	// report no-credential.
	settingProbeCredentials = "IDPKEEPER_PROBE_CREDENTIALS"
	// settingReportURL is the hosted HTML report that notices to people
	// inside the organisation link to, e.g. the Report function's
	// https://APP.azurewebsites.net/api/report?format=html&code=KEY; each
	// notice adds #<finding ID> to land on its row. Unset: no link.
	settingReportURL = "IDPKEEPER_REPORT_URL"
	// How long the state store keeps parked jobs and rejected events, and
	// stored notices and dated reports, in whole days (empty: 90 and 400;
	// pipeline.DefaultRetention). The timer scan prunes what is older.
	settingRetentionParked  = "IDPKEEPER_RETENTION_PARKED_DAYS"
	settingRetentionNotices = "IDPKEEPER_RETENTION_NOTICES_DAYS"
)

// retentionFromSettings reads the retention settings; a value that is not
// a whole number of days from 1 to 3650 is refused with its name, rather
// than pruning by a guess.
func retentionFromSettings() (pipeline.Retention, error) {
	var r pipeline.Retention
	for _, s := range []struct {
		name string
		into *time.Duration
	}{{settingRetentionParked, &r.Parked}, {settingRetentionNotices, &r.Notices}} {
		v := strings.TrimSpace(os.Getenv(s.name))
		if v == "" {
			continue
		}
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 || days > 3650 {
			return r, fmt.Errorf("app setting %s = %q: want whole days from 1 to 3650", s.name, clipText(v, 20))
		}
		*s.into = time.Duration(days) * 24 * time.Hour
	}
	return r, nil
}

// applyFromSettings reads IDPKEEPER_APPLY.
func applyFromSettings() bool { return settingTrue(settingApply) }

// probeCredentialsFromSettings reads IDPKEEPER_PROBE_CREDENTIALS.
func probeCredentialsFromSettings() bool { return settingTrue(settingProbeCredentials) }

func settingTrue(name string) bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv(name)), "true")
}

const defaultContainer = "idpkeeper"

// loadConfig reads the config file named by a flag or the IDPKEEPER_CONFIG
// setting; with neither, the built-in defaults apply. It stops when ctx is
// done (SIGINT/SIGTERM).
func loadConfig(ctx context.Context, path string) (*config.Config, error) {
	if path == "" {
		path = os.Getenv(settingConfig)
	}
	cfg := config.Default()
	if path != "" {
		var err error
		if cfg, err = config.LoadContext(ctx, path); err != nil {
			return nil, err
		}
	}
	applyDeploymentSettings(cfg)
	return cfg, nil
}

// applyDeploymentSettings adds the vault and the notice mailbox that the
// deployment names, unless the config file already says otherwise.
func applyDeploymentSettings(cfg *config.Config) {
	if kv := strings.TrimSpace(os.Getenv(settingKeyVault)); kv != "" {
		known := false
		for _, v := range cfg.KeyVaults {
			known = known || strings.EqualFold(strings.TrimRight(v, "/"), strings.TrimRight(kv, "/"))
		}
		if !known {
			cfg.KeyVaults = append(cfg.KeyVaults, kv)
		}
	}
	if mb := strings.TrimSpace(os.Getenv(settingMailbox)); mb != "" && cfg.Notifications.Mail == nil {
		cfg.Notifications.Mail = &config.Mail{From: mb}
	}
}

// credentialFor is credential; tests replace it to see which cloud each
// client's credential was made for.
var credentialFor = credential

// credential is the identity used for a live tenant, the state store and
// Service Bus: managed identity in Azure (AZURE_CLIENT_ID selects a
// user-assigned one), developer sign-in (Azure CLI, azd) on a workstation.
// It gets its tokens from the authority of the config's cloud
// (tenant.cloud), for every client alike; only with no config at all does
// azidentity's default apply, which AZURE_AUTHORITY_HOST overrides.
func credential(cfg *config.Config) (azcore.TokenCredential, error) {
	opts, err := credentialOptions(cfg)
	if err != nil {
		return nil, err
	}
	cred, err := azidentity.NewDefaultAzureCredential(opts)
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w", err)
	}
	return cred, nil
}

func credentialOptions(cfg *config.Config) (*azidentity.DefaultAzureCredentialOptions, error) {
	if cfg == nil {
		return nil, nil
	}
	cloud, err := scan.CloudOf(cfg)
	if err != nil {
		return nil, err
	}
	return &azidentity.DefaultAzureCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: cloud.AzCore()}}, nil
}

// openState opens the state store IDPKEEPER_STATE names:
//   - https://ACCOUNT.blob.core.windows.net/ → Blob Storage with the managed
//     identity, its tokens from the authority of cfg's cloud;
//   - a storage connection string (or UseDevelopmentStorage=true) → Blob Storage / Azurite;
//   - anything else → a local folder (default .idpkeeper-state).
func openState(ctx context.Context, cfg *config.Config) (statestore.Store, error) {
	v := strings.TrimSpace(os.Getenv(settingState))
	container := os.Getenv(settingContainer)
	if container == "" {
		container = defaultContainer
	}
	switch {
	case v == "":
		return statestore.Dir{Root: ".idpkeeper-state"}, nil
	case strings.HasPrefix(v, "https://"):
		cred, err := credentialFor(cfg)
		if err != nil {
			return nil, err
		}
		return statestore.OpenBlob(ctx, statestore.BlobOptions{ServiceURL: v, Credential: cred, Container: container})
	case strings.Contains(v, "UseDevelopmentStorage=") || strings.Contains(v, "AccountName=") || strings.Contains(v, "BlobEndpoint="):
		return statestore.OpenBlob(ctx, statestore.BlobOptions{ConnectionString: v, Container: container})
	default:
		return statestore.Dir{Root: v}, nil
	}
}

// metadataOptions turns on the partner metadata check. A snapshot scan keeps
// what it learns in memory (replayed metadata must not replace the real last
// good record); a live scan keeps it in the state store.
func metadataOptions(ctx context.Context, snapshotDir string, cfg *config.Config) (*scan.MetadataOptions, error) {
	if snapshotDir != "" {
		return &scan.MetadataOptions{Store: &scan.MemoryStore{}}, nil
	}
	state, err := openState(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &scan.MetadataOptions{Store: scan.StateMetadataStore{State: state}}, nil
}
