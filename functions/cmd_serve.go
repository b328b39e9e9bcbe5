package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Where ScanTimer keeps reports in the state store.
const latestReport = "reports/latest.json"

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrFlag := fs.String("addr", "", "listen address (default 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT)")
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	logger := funchost.NewLogger(stdout, stderr, slog.LevelInfo)
	addr := *addrFlag
	if addr == "" {
		var err error
		if addr, err = funchost.ListenAddress(); err != nil {
			logger.Error("cannot listen", "error", err)
			return exitUsage
		}
	}
	app := &functionsApp{
		logger:    logger,
		openState: openState,
		source:    func() (scan.Source, error) { return sourceFor(os.Getenv(settingSnapshot)) },
	}
	err := funchost.Serve(ctx, addr, app.router(), func(a net.Addr) {
		logger.Info("idpkeeper custom handler listening", "addr", a.String(), "version", version)
	})
	if err != nil {
		logger.Error("custom handler stopped", "error", err)
		return exitRead
	}
	return exitOK
}

// functionsApp holds what the function handlers share. Settings are read at
// each invocation, not at start, so that a bad setting fails one invocation
// with a clear log instead of crash-looping the worker (the host gives up
// after three restarts).
type functionsApp struct {
	logger    *slog.Logger
	openState func(context.Context) (statestore.Store, error)
	// source says where ScanTimer reads the tenant: IDPKEEPER_SNAPSHOT, or
	// the live tenant with the managed identity.
	source func() (scan.Source, error)
}

func (a *functionsApp) router() *funchost.Router {
	r := funchost.NewRouter(a.logger)
	r.Handle("ScanTimer", a.scanTimer)
	r.Handle("Report", a.report)
	return r
}

// scanTimer scans the tenant (or IDPKEEPER_SNAPSHOT) and stores the report.
func (a *functionsApp) scanTimer(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	log := inv.Logger()
	if timer, err := inv.Timer("timer"); err != nil {
		// The schedule data only informs the log; a scan is due either way.
		log.Warn("timer payload not understood; scanning anyway", "error", err)
	} else if timer.IsPastDue {
		log.Info("timer is past due; scanning now")
	}
	cfg, err := loadConfig("")
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	src, err := a.source()
	if err != nil {
		return nil, err
	}
	store, err := a.openState(ctx)
	if err != nil {
		return nil, err
	}
	md := &scan.MetadataOptions{Store: scan.StateMetadataStore{State: store}}
	if src.SnapshotDir != "" {
		md.Store = &scan.MemoryStore{}
	}
	res, err := scan.Run(ctx, scan.Options{Config: cfg, Source: src, Metadata: md})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, res.Report, "json"); err != nil {
		return nil, err
	}
	// Every report is kept by date for the audit trail; latest.json is what
	// the Report function serves.
	dated := "reports/" + res.Report.GeneratedAt.Format("2006/01/02/150405Z") + ".json"
	if _, err := store.Put(ctx, dated, buf.Bytes(), statestore.Condition{}); err != nil {
		return nil, err
	}
	if _, err := store.Put(ctx, latestReport, buf.Bytes(), statestore.Condition{}); err != nil {
		return nil, err
	}
	summary := map[string]any{
		"source":   res.Report.Source,
		"findings": len(res.Findings),
		"stored":   store.Describe() + "/" + latestReport,
	}
	log.Info("scan stored", "source", res.Report.Source, "findings", len(res.Findings), "store", store.Describe())
	return (&funchost.InvocationResponse{ReturnValue: summary}).
		Logf("scan of %s: %d findings, report stored as %s", res.Report.Source, len(res.Findings), latestReport), nil
}

// report serves the latest stored report: JSON by default, the table with
// ?format=table.
func (a *functionsApp) report(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return httpAnswer(400, "application/json", mustJSON(map[string]string{"error": "request not understood: " + err.Error()})), nil
	}
	format := req.Query["format"]
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "table" {
		return httpAnswer(400, "application/json", mustJSON(map[string]string{"error": "format must be json or table"})), nil
	}
	store, err := a.openState(ctx)
	if err != nil {
		return nil, err
	}
	data, _, err := store.Get(ctx, latestReport)
	if errors.Is(err, statestore.ErrNotFound) {
		return httpAnswer(404, "application/json", mustJSON(map[string]string{"error": "no report yet: the ScanTimer function has not run"})), nil
	}
	if err != nil {
		return nil, err
	}
	if format == "json" {
		return httpAnswer(200, "application/json", string(data)), nil
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("stored report is not readable: %w", err)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, rep, "table"); err != nil {
		return nil, err
	}
	return httpAnswer(200, "text/plain; charset=utf-8", buf.String()), nil
}

func httpAnswer(status int, contentType, body string) *funchost.InvocationResponse {
	return (&funchost.InvocationResponse{}).SetOutput("res", funchost.HTTPResponse{
		StatusCode: status,
		Body:       body,
		Headers:    map[string]string{"Content-Type": contentType},
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
