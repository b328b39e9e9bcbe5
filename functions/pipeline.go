package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/acklink"
	"github.com/idpkeeper/idpkeeper/shared/assess"
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
// Ack function's URL without any key, e.g.
// https://APP.azurewebsites.net/api/ack (set by the postdeploy hook). Each
// notice's link is signed with IDPKEEPER_ACK_KEY (package acklink). Unset,
// or without a key: notices tell owners to run `idpkeeper ack` instead.
const settingAckURL = "IDPKEEPER_ACK_URL"

// settingAckKey is the HMAC key that signs and verifies acknowledgement
// links: base64 of at least 32 random bytes. In Azure a Key Vault reference
// to the secret infra creates (idpkeeper-ack-key); locally a value in
// local.settings.json (openssl rand -base64 32).
const settingAckKey = "IDPKEEPER_ACK_KEY"

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
	// ProbeCredentials lets the scheduled probes read connector credentials.
	ProbeCredentials bool
	// Providers replace the Google/Facebook token endpoints (tests).
	Providers map[string]repair.ProviderTester
}

// noticeLease is how long a notice claim holds before another handler may
// take it over (ledger.ClaimNotice). A variable only so that the crash tests'
// helper processes can shorten it.
var noticeLease = ledger.DefaultNoticeLease

// newPipeline assembles the job pipeline around the given parts.
func newPipeline(parts pipelineParts) (*pipeline.Pipeline, error) {
	led := &ledger.Ledger{Store: parts.State, Now: parts.Now, Lease: noticeLease}
	channels := parts.Channels
	if channels == nil {
		// The Functions app: every notice is kept in the state store
		// (outbox/<date>/…), in front of the mail or webhook the config
		// names. Never a folder by default — in Azure the app root is the
		// read-only package.
		deps := notify.Deps{Stdout: parts.Stdout, Store: &notify.Store{State: parts.State, Now: parts.Now, Logger: parts.Logger}}
		cfg := parts.Config
		switch {
		case cfg.Notifications.Mail != nil && parts.Source.Credential != nil:
			cloud, err := scan.CloudOf(cfg)
			if err != nil {
				return nil, err
			}
			clients, err := tenant.NewClients(parts.Source.Credential, tenant.ClientOptions{Transport: parts.Source.Transport, Cloud: cloud})
			if err != nil {
				return nil, err
			}
			deps.Graph = clients.Graph
		case cfg.Notifications.Mail != nil:
			// A snapshot (a local run of the demo) has no tenant to mail
			// through; its notices are stored, and say so.
			withoutMail := *cfg
			withoutMail.Notifications.Mail = nil
			cfg = &withoutMail
			if parts.Logger != nil {
				parts.Logger.Warn("notices are not mailed: the app reads a snapshot (" + settingSnapshot + "), not a live tenant; they are kept in the state store")
			}
		}
		var err error
		if channels, err = notify.FromConfig(cfg, deps); err != nil {
			return nil, err
		}
	}
	rep, err := repairDeps(parts, led)
	if err != nil {
		return nil, err
	}
	links := noticeLinks(parts.Config, parts.Logger)
	retention, err := retentionFromSettings()
	if err != nil {
		return nil, err
	}
	return &pipeline.Pipeline{
		Retention:        retention,
		Repair:           rep,
		ProbeCredentials: parts.ProbeCredentials,
		Config:           parts.Config,
		Source:           parts.Source,
		Sender:           parts.Sender,
		State:            parts.State,
		Ledger:           led,
		Notifier:         &notify.Notifier{Ledger: led, Channels: channels, Config: parts.Config, Links: links, Now: parts.Now, Logger: parts.Logger},
		Metadata:         metadataStoreFor(parts.Source, parts.State),
		Logger:           parts.Logger,
		Now:              parts.Now,
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

// noticeLinks are the links notices carry: the signed acknowledgement link
// (IDPKEEPER_ACK_URL and IDPKEEPER_ACK_KEY) and the hosted report
// (IDPKEEPER_REPORT_URL). A link that cannot be made is left out with a
// warning, never sent half-made (or with a function key).
func noticeLinks(cfg *config.Config, logger *slog.Logger) notify.Links {
	links := notify.Links{Report: strings.TrimSpace(os.Getenv(settingReportURL))}
	base := strings.TrimSpace(os.Getenv(settingAckURL))
	if base == "" {
		return links
	}
	warn := func(msg string, args ...any) {
		if logger != nil {
			logger.Warn(msg, args...)
		}
	}
	key, err := acklink.ParseKey(os.Getenv(settingAckKey))
	if err != nil {
		warn("notices carry no acknowledgement link: "+settingAckKey+" is not usable", "error", err.Error())
		return links
	}
	if _, err := acklink.Link(key, base, "F-0", time.Now().Add(time.Hour), time.Now().Add(time.Hour)); err != nil {
		warn("notices carry no acknowledgement link: "+settingAckURL+" is not usable", "error", err.Error())
		return links
	}
	days := config.DefaultEscalationDays()
	if cfg != nil && len(cfg.Defaults.EscalationDays) > 0 {
		days = cfg.Defaults.EscalationDays
	}
	links.AckLink = func(f assess.Finding) (string, time.Time) {
		// The wall clock: a link is for a person who clicks it now,
		// whatever moment a snapshot is judged at.
		until, exp := notify.AckWindow(f, time.Now(), days)
		link, err := acklink.Link(key, base, f.ID, until, exp)
		if err != nil {
			return "", time.Time{}
		}
		return link, until
	}
	return links
}

// azurePipeline is the pipeline the Functions app runs: the tenant (or
// IDPKEEPER_SNAPSHOT), Service Bus, and the state store from settings.
func azurePipeline(ctx context.Context, logger *slog.Logger) (*pipeline.Pipeline, func(), error) {
	return azurePipelineWith(ctx, logger, azureParts{})
}

// azureParts replace the two things a test cannot have from settings: the
// live tenant (a test uses the HTTPS fake) and Service Bus (an in-process
// queue). Everything else comes from the app settings, as in Azure.
type azureParts struct {
	Source *scan.Source
	Sender jobs.Sender
}

func azurePipelineWith(ctx context.Context, logger *slog.Logger, over azureParts) (*pipeline.Pipeline, func(), error) {
	cfg, err := loadConfig(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	var src scan.Source
	if over.Source != nil {
		src = *over.Source
	} else if src, err = sourceFor(os.Getenv(settingSnapshot), cfg); err != nil {
		return nil, nil, err
	}
	cred := src.Credential
	if cred == nil {
		if cred, err = credentialFor(cfg); err != nil {
			return nil, nil, err
		}
	}
	// Without Service Bus settings the app still scans and serves reports
	// (a first local run); it says so and queues nothing.
	sender := over.Sender
	closeSB := func() {}
	switch {
	case sender != nil:
	case os.Getenv(jobs.SettingConnection) != "" || os.Getenv(jobs.SettingNamespace) != "":
		sb, err := jobs.NewServiceBusFromEnv(cred)
		if err != nil {
			return nil, nil, err
		}
		sender, closeSB = sb, func() { sb.Close(context.Background()) }
	default:
		logger.Warn("no Service Bus configured (" + jobs.SettingConnection + "): scans run, jobs are not queued")
	}
	state, err := openState(ctx, cfg)
	if err != nil {
		closeSB()
		return nil, nil, err
	}
	clock, err := clockFor(src, time.Time{})
	if err != nil {
		closeSB()
		return nil, nil, err
	}
	p, err := newPipeline(pipelineParts{Config: cfg, Source: src, Sender: sender, State: state, Stdout: os.Stdout, Logger: logger, Now: clock,
		Apply: applyFromSettings(), ProbeCredentials: probeCredentialsFromSettings()})
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
	cloud, err := scan.CloudOf(parts.Config)
	if err != nil {
		return nil, err
	}
	clients, err := tenant.NewClients(parts.Source.Credential, tenant.ClientOptions{
		Transport: parts.Source.Transport, KeyVaultURLs: parts.Config.KeyVaults, Cloud: cloud,
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
