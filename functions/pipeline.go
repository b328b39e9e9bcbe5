package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/snapshot"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// settingAckURL is the base of the acknowledgement link put in notices: the
// Ack function's URL with its function key, e.g.
// https://APP.azurewebsites.net/api/ack?code=KEY. Unset: notices tell owners
// to run `idpkeeper ack` instead.
const settingAckURL = "IDPKEEPER_ACK_URL"

// pipelineParts are the pieces that differ between Azure and a local run.
type pipelineParts struct {
	Config *config.Config
	Source scan.Source
	Sender jobs.Sender
	State  statestore.Store
	// Channels for notices; nil means the config's channels.
	Channels []notify.Channel
	Stdout   io.Writer
	Logger   *slog.Logger
	// Now is the clock of the scan, the ledger and the notices; nil is the
	// wall clock.
	Now func() time.Time
	// Apply lets the repair step write; false keeps it in dry run.
	Apply bool
	// Providers replace the Google/Facebook token endpoints (tests).
	Providers map[string]repair.ProviderTester
}

// newPipeline assembles the job pipeline around the given parts.
func newPipeline(parts pipelineParts) (*pipeline.Pipeline, error) {
	led := &ledger.Ledger{Store: parts.State, Now: parts.Now}
	channels := parts.Channels
	if channels == nil {
		deps := notify.Deps{Stdout: parts.Stdout, DefaultOutboxDir: "outbox"}
		if parts.Config.Notifications.Mail != nil && parts.Source.Credential != nil {
			clients, err := tenant.NewClients(parts.Source.Credential, tenant.ClientOptions{Transport: parts.Source.Transport})
			if err != nil {
				return nil, err
			}
			deps.Graph = clients.Graph
		}
		var err error
		if channels, err = notify.FromConfig(parts.Config, deps); err != nil {
			return nil, err
		}
	}
	rep, err := repairDeps(parts, led)
	if err != nil {
		return nil, err
	}
	return &pipeline.Pipeline{
		Repair:   rep,
		Config:   parts.Config,
		Source:   parts.Source,
		Sender:   parts.Sender,
		State:    parts.State,
		Ledger:   led,
		Notifier: &notify.Notifier{Ledger: led, Channels: channels, Config: parts.Config, Links: ackLinks(), Now: parts.Now},
		Metadata: metadataStoreFor(parts.Source, parts.State),
		Logger:   parts.Logger,
		Now:      parts.Now,
	}, nil
}

// metadataStoreFor keeps last good metadata in the state store, except for a
// snapshot, whose replayed metadata must not replace a real record.
func metadataStoreFor(src scan.Source, state statestore.Store) metadata.Store {
	if src.SnapshotDir != "" {
		return &scan.MemoryStore{}
	}
	return scan.StateMetadataStore{State: state}
}

func ackLinks() notify.Links {
	base := os.Getenv(settingAckURL)
	if base == "" {
		return notify.Links{}
	}
	return notify.Links{AckURL: func(findingID string) string {
		u, err := url.Parse(base)
		if err != nil {
			return ""
		}
		q := u.Query()
		q.Set("finding", findingID)
		u.RawQuery = q.Encode()
		return u.String()
	}}
}

// azurePipeline is the pipeline the Functions app runs: the tenant (or
// IDPKEEPER_SNAPSHOT), Service Bus, and the state store from settings.
func azurePipeline(ctx context.Context, logger *slog.Logger) (*pipeline.Pipeline, func(), error) {
	cfg, err := loadConfig(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	src, err := sourceFor(os.Getenv(settingSnapshot))
	if err != nil {
		return nil, nil, err
	}
	cred := src.Credential
	if cred == nil {
		if cred, err = credential(); err != nil {
			return nil, nil, err
		}
	}
	// Without Service Bus settings the app still scans and serves reports
	// (a first local run); it says so and queues nothing.
	var sender jobs.Sender
	closeSB := func() {}
	if os.Getenv(jobs.SettingConnection) != "" || os.Getenv(jobs.SettingNamespace) != "" {
		sb, err := jobs.NewServiceBusFromEnv(cred)
		if err != nil {
			return nil, nil, err
		}
		sender, closeSB = sb, func() { sb.Close(context.Background()) }
	} else {
		logger.Warn("no Service Bus configured (" + jobs.SettingConnection + "): scans run, jobs are not queued")
	}
	state, err := openState(ctx)
	if err != nil {
		closeSB()
		return nil, nil, err
	}
	clock, err := clockFor(src, time.Time{})
	if err != nil {
		closeSB()
		return nil, nil, err
	}
	p, err := newPipeline(pipelineParts{Config: cfg, Source: src, Sender: sender, State: state, Stdout: os.Stdout, Logger: logger, Now: clock, Apply: applyFromSettings()})
	if err != nil {
		closeSB()
		return nil, nil, err
	}
	return p, closeSB, nil
}

// clockFor fixes the clock: at when given; for a snapshot, its capture time
// (a snapshot is the tenant frozen at that moment, so its due dates, notice
// stages and ledger all read as of then); otherwise the wall clock (nil).
func clockFor(src scan.Source, at time.Time) (func() time.Time, error) {
	if at.IsZero() && src.SnapshotDir != "" {
		m, err := snapshot.ReadManifest(src.SnapshotDir)
		if err != nil {
			return nil, err
		}
		at = m.CapturedAt
	}
	if at.IsZero() {
		return nil, nil
	}
	fixed := at.UTC()
	return func() time.Time { return fixed }, nil
}

// repairDeps builds the repair step's clients for a live tenant. A snapshot
// cannot be repaired (its replay refuses writes), so it gets none.
func repairDeps(parts pipelineParts, led *ledger.Ledger) (*repair.Deps, error) {
	if parts.Source.SnapshotDir != "" || parts.Source.Credential == nil {
		return nil, nil
	}
	clients, err := tenant.NewClients(parts.Source.Credential, tenant.ClientOptions{
		Transport: parts.Source.Transport, KeyVaultURLs: parts.Config.KeyVaults, GraphBaseURL: scan.GraphBaseURL(parts.Config),
	})
	if err != nil {
		return nil, err
	}
	providers := parts.Providers
	if providers == nil {
		providers = map[string]repair.ProviderTester{"Google": repair.GoogleTester{}, "Facebook": repair.FacebookTester{}}
	}
	mode := repair.DryRun
	if parts.Apply {
		mode = repair.Apply
	}
	return &repair.Deps{
		Graph: clients.Graph, Vaults: repair.VaultsOf(clients),
		Journal: &repair.Journal{Store: parts.State, Now: parts.Now}, Ledger: led,
		Providers: providers, Mode: mode, Now: parts.Now,
	}, nil
}
