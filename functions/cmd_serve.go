package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/acklink"
	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

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
	var closeAll []func()
	app := &functionsApp{logger: logger, build: func(ctx context.Context) (*pipeline.Pipeline, error) {
		p, closer, err := azurePipeline(ctx, logger)
		if err == nil {
			closeAll = append(closeAll, closer)
		}
		return p, err
	}}
	err := funchost.Serve(ctx, addr, app.router(), func(a net.Addr) {
		logger.Info("idpkeeper custom handler listening", "addr", a.String(), "version", version)
	})
	for _, c := range closeAll {
		c()
	}
	if err != nil {
		logger.Error("custom handler stopped", "error", err)
		return exitRead
	}
	return exitOK
}

// functionsApp holds what the function handlers share. The pipeline is built
// at the first invocation, not at start, so that a bad setting fails
// invocations with a clear log instead of crash-looping the worker (the host
// gives up after three restarts); a failed build is retried next time.
type functionsApp struct {
	logger *slog.Logger
	build  func(context.Context) (*pipeline.Pipeline, error)

	mu sync.Mutex
	p  *pipeline.Pipeline
}

func (a *functionsApp) pipeline(ctx context.Context) (*pipeline.Pipeline, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.p != nil {
		return a.p, nil
	}
	p, err := a.build(ctx)
	if err != nil {
		return nil, err
	}
	a.p = p
	return p, nil
}

func (a *functionsApp) router() *funchost.Router {
	r := funchost.NewRouter(a.logger)
	r.Handle("ScanTimer", a.scanTimer)
	r.Handle("WatchTimer", a.watchTimer)
	r.Handle("Report", a.report)
	r.Handle("KeyVaultEvents", a.keyVaultEvents)
	r.Handle("RefreshMetadata", a.job)
	r.Handle("RotateCredential", a.job)
	r.Handle("NotifyOwner", a.job)
	r.Handle("Ack", a.ack)
	r.Handle("Approve", a.approve)
	return r
}

// scanTimer scans the tenant, stores the report and queues the jobs.
func (a *functionsApp) scanTimer(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	log := inv.Logger()
	if timer, err := inv.Timer("timer"); err != nil {
		// The schedule data only informs the log; a scan is due either way.
		log.Warn("timer payload not understood; scanning anyway", "error", err)
	} else if timer.IsPastDue {
		log.Info("timer is past due; scanning now")
	}
	p, err := a.pipeline(ctx)
	if err != nil {
		return nil, err
	}
	res, queued, err := p.ScanAndQueue(ctx, "scan:"+inv.InvocationID)
	if err != nil {
		return nil, err
	}
	counts := map[jobs.Kind]int{}
	for _, j := range queued {
		counts[j.Kind]++
	}
	log.Info("scan stored", "source", res.Report.Source, "findings", len(res.Findings), "jobs", len(queued), "read", scan.Summary(res.Report.Read))
	summary := map[string]any{"source": res.Report.Source, "findings": len(res.Findings), "jobs": counts}
	return (&funchost.InvocationResponse{ReturnValue: summary}).
		Logf("scan of %s: %d findings, report stored as %s, %d jobs queued", res.Report.Source, len(res.Findings), pipeline.LatestReport, len(queued)), nil
}

// watchTimer checks every endpoint external sign-in depends on (partners'
// sign-in and metadata URLs, Google's and Facebook's endpoints, the API
// connectors), records each result in its history and tells the owners what
// the histories say. It reads the inventory the last ScanTimer stored: no
// tenant scan. Its results feed the next ScanTimer report.
func (a *functionsApp) watchTimer(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	log := inv.Logger()
	if timer, err := inv.Timer("timer"); err != nil {
		log.Warn("timer payload not understood; watching anyway", "error", err)
	} else if timer.IsPastDue {
		log.Info("timer is past due; watching now")
	}
	p, err := a.pipeline(ctx)
	if err != nil {
		return nil, err
	}
	run, err := p.Watch(ctx, "watch:"+inv.InvocationID, nil)
	if errors.Is(err, pipeline.ErrNoInventory) {
		// Nothing to watch before the first scan; not a failure to retry.
		log.Warn("endpoint watch waits for the first scan", "reason", err.Error())
		return (&funchost.InvocationResponse{ReturnValue: map[string]any{"endpoints": 0}}).Logf("endpoint watch: %v", err), nil
	}
	if err != nil {
		return nil, err
	}
	out := run.Outcome
	up, down, skipped := 0, 0, 0
	for i, r := range out.Results {
		switch r.State {
		case "up":
			up++
		case "down":
			down++
			log.Warn("endpoint check failed", "dependency", out.Endpoints[i].Dependency.Ref, "role", out.Endpoints[i].Role, "endpoint", out.Endpoints[i].Display, "class", r.Class, "detail", r.Detail)
		case "skipped":
			skipped++
		}
	}
	kinds := map[string]int{}
	for _, f := range run.Findings {
		kinds[f.Kind]++
	}
	for _, e := range run.NoticeErrors {
		log.Warn("watch notice not sent", "error", e)
	}
	summary := map[string]any{"endpoints": len(out.Endpoints), "up": up, "down": down, "skipped": skipped, "unchecked": out.Unchecked,
		"findings": kinds, "notices": len(run.Notices), "historyProblems": len(out.Problems)}
	log.Info("endpoint watch", "endpoints", len(out.Endpoints), "up", up, "down", down, "unchecked", out.Unchecked, "findings", len(run.Findings))
	return (&funchost.InvocationResponse{ReturnValue: summary}).
		Logf("endpoint watch: %d endpoints, %d up, %d down, %d skipped, %d not checked this round; %d findings, %d notices", len(out.Endpoints), up, down, skipped, out.Unchecked, len(run.Findings), len(run.Notices)), nil
}

// report serves the latest stored report: JSON by default, the table with
// ?format=table, the self-contained page with ?format=html.
func (a *functionsApp) report(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return httpJSON(400, map[string]string{"error": "request not understood: " + err.Error()}), nil
	}
	format := req.Query["format"]
	if format == "" {
		format = "json"
	}
	contentType, ok := map[string]string{
		report.FormatJSON:  "application/json",
		report.FormatTable: "text/plain; charset=utf-8",
		report.FormatHTML:  "text/html; charset=utf-8",
	}[format]
	if !ok {
		return httpJSON(400, map[string]string{"error": "format must be json, table or html"}), nil
	}
	p, err := a.pipeline(ctx)
	if err != nil {
		return nil, err
	}
	data, _, err := p.State.Get(ctx, pipeline.LatestReport)
	if errors.Is(err, statestore.ErrNotFound) {
		return httpJSON(404, map[string]string{"error": "no report yet: the ScanTimer function has not run"}), nil
	}
	if err != nil {
		return nil, err
	}
	// What is served is checked first, in every format: a damaged or
	// foreign document in the state store is a 500 with the reason in the
	// log, never passed on as if it were a report.
	rep, err := report.Validate(data)
	if err != nil {
		return nil, fmt.Errorf("stored report %s in %s is not served: %w", pipeline.LatestReport, p.State.Describe(), err)
	}
	if format == "json" {
		return httpAnswer(200, "application/json", string(data)), nil
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, rep, format); err != nil {
		return nil, err
	}
	return httpAnswer(200, contentType, buf.String()), nil
}

// keyVaultEvents queues rotation jobs for Key Vault events, deciding from
// the secret index the last timer scan stored: it never scans or calls Graph
// or Key Vault, so Event Grid (which waits 30 s, then redelivers) gets its
// answer at once. Rejected and ignored events are acknowledged (200) with
// their reason in the logs; only a failure to queue makes Event Grid retry.
func (a *functionsApp) keyVaultEvents(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	raw, ok := inv.RawData("event")
	if !ok {
		return funchost.Rejected("no event in the invocation"), nil
	}
	p, err := a.pipeline(ctx)
	if err != nil {
		return nil, err
	}
	raws, err := events.Split(raw)
	if err != nil {
		if perr := p.RecordRejectedEvent(ctx, raw, "", err.Error()); perr != nil {
			return nil, perr
		}
		inv.Logger().Warn("event rejected", "reason", err.Error())
		return funchost.Rejected("%v", err), nil
	}
	resp := &funchost.InvocationResponse{}
	outcomes := make([]pipeline.EventOutcome, 0, len(raws))
	// One state read for the whole delivery; no Graph or Key Vault call.
	ix, err := p.LoadSecretIndex(ctx)
	if err != nil {
		inv.Logger().Warn("secret index not readable; unknown secrets are resolved by a job", "error", err.Error())
	}
	var rejected []pipeline.RejectedEvent
	for i, r := range raws {
		out, err := p.HandleEventWith(ctx, r, ix)
		if err != nil {
			return nil, err
		}
		if out.Outcome == pipeline.EventRejected {
			rejected = append(rejected, pipeline.RejectedEvent{Raw: r, EventID: out.ID, Reason: out.Reason})
		}
		inv.Logger().Info("key vault event", "id", out.ID, "type", out.EventType, "outcome", out.Outcome, "reason", out.Reason, "jobs", len(out.Jobs))
		// The invocation's own log lines go back to the host in one
		// answer: the first ones, then a count (every event has its line
		// in the handler's log above).
		if i < maxEventLogLines {
			resp.Logf("event %s (%s): %s: %s", out.ID, out.EventType, out.Outcome, out.Reason)
		}
		outcomes = append(outcomes, out)
	}
	if len(raws) > maxEventLogLines {
		resp.Logf("… and %d more events", len(raws)-maxEventLogLines)
	}
	// Parked before Event Grid hears 200: nothing is acknowledged unkept.
	if err := p.RecordRejectedEvents(ctx, rejected); err != nil {
		return nil, err
	}
	resp.ReturnValue = outcomes
	return resp, nil
}

// maxEventLogLines bounds the log lines one KeyVaultEvents answer carries.
const maxEventLogLines = 100

// job runs a queued job. A job that can never succeed is parked with its
// reason and completed (200); a failure worth retrying answers 500, so Service
// Bus redelivers it and dead-letters it after MaxDeliveryCount.
func (a *functionsApp) job(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	log := inv.Logger()
	msg, err := inv.ServiceBusMessage("job")
	if err != nil {
		return funchost.Rejected("service bus message: %v", err), nil
	}
	p, err := a.pipeline(ctx)
	if err != nil {
		return nil, err
	}
	d, err := jobs.FromServiceBus(msg)
	if err == nil {
		err = p.Handler()(ctx, d)
	}
	switch {
	case err == nil:
		log.Info("job done", "kind", d.Job.Kind, "dependency", d.Job.Dependency, "messageId", d.MessageID, "delivery", d.DeliveryCount)
		return (&funchost.InvocationResponse{}).Logf("%s %s done", d.Job.Kind, d.Job.Dependency), nil
	case jobs.IsPermanent(err):
		parked := jobs.Parked{MessageID: msg.MessageID, Queue: inv.FunctionName, Reason: err.Error(), Body: string(msg.Body), At: time.Now().UTC()}
		if perr := jobs.Park(ctx, p.State, parked); perr != nil {
			return nil, fmt.Errorf("parking %s: %w (original: %v)", msg.MessageID, perr, err)
		}
		log.Warn("job parked", "messageId", msg.MessageID, "reason", err.Error())
		return funchost.Rejected("parked %s: %v", msg.MessageID, err), nil
	default:
		return nil, err
	}
}

// ack pauses reminders for a finding: /api/ack?finding=F&until=UNIX&exp=
// UNIX&sig=… — the signed link in notices (package acklink). The function is
// anonymous: the link's signature, bound to the finding, the pause and the
// link's expiry, is the authorisation, so the Functions key never leaves the
// tenant's admins.
//
// Opening the link (GET) changes nothing: it checks the link and answers a
// page with one button that POSTs the same link. Mail gateways that scan
// links — the partners' as well as ours (Defender Safe Links and the like
// fetch every URL in a message) — would otherwise pause every reminder they
// deliver. POST pauses, and answers JSON, or a page when the browser asks
// for HTML. Answers: 200 (a confirmation page, or paused); 400 not a link;
// 403 signature wrong; 410 expired; 404 finding unknown; 405 another
// method; 503 no key configured (nothing is accepted then).
func (a *functionsApp) ack(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	log := inv.Logger()
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return httpJSON(400, map[string]string{"error": "request not understood"}), nil
	}
	key, err := acklink.ParseKey(os.Getenv(settingAckKey))
	if err != nil {
		if !errors.Is(err, acklink.ErrNoKey) {
			log.Error("acknowledgement links refused: "+settingAckKey+" is not usable", "error", err.Error())
		}
		return httpJSON(503, map[string]string{"error": "acknowledgement links are not configured on this app; ask your IdP Keeper administrators (idpkeeper ack)"}), nil
	}
	q := url.Values{}
	for k, v := range req.Query {
		q.Set(k, v)
	}
	grant, err := acklink.Verify(key, q, time.Now())
	switch {
	case errors.Is(err, acklink.ErrMalformed):
		return httpJSON(400, map[string]string{"error": err.Error()}), nil
	case errors.Is(err, acklink.ErrSignature):
		log.Warn("acknowledgement link with a wrong signature refused", "finding", clipText(q.Get("finding"), 64))
		return httpJSON(403, map[string]string{"error": err.Error()}), nil
	case errors.Is(err, acklink.ErrExpired):
		return httpJSON(410, map[string]string{"error": err.Error()}), nil
	case err != nil:
		return httpJSON(400, map[string]string{"error": err.Error()}), nil
	}
	p, err := a.pipeline(ctx)
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(req.Method) {
	case http.MethodGet, http.MethodHead:
		e, err := p.Ledger.Get(ctx, grant.FindingID)
		if errors.Is(err, statestore.ErrNotFound) || (err == nil && e.Version == 0) {
			return httpJSON(404, map[string]string{"error": "no such finding: " + grant.FindingID}), nil
		}
		if err != nil {
			return nil, err
		}
		return ackPage(200, ackConfirmation(e, grant)), nil
	case http.MethodPost:
	default:
		return httpJSON(405, map[string]string{"error": "open the link (GET) and confirm (POST)"}), nil
	}
	by := "link"
	if v := strings.TrimSpace(req.Query["by"]); v != "" {
		by = "link:" + clipText(v, 64)
	}
	e, err := p.Ledger.Acknowledge(ctx, grant.FindingID, grant.Until, by, req.Query["note"])
	if errors.Is(err, ledger.ErrUnknownFinding) {
		return httpJSON(404, map[string]string{"error": "no such finding: " + grant.FindingID}), nil
	}
	if err != nil {
		return nil, err
	}
	log.Info("reminders paused by link", "finding", grant.FindingID, "until", e.Ack.Until.Format(time.RFC3339), "by", e.Ack.By)
	message := "Thank you: reminders for this finding are paused until " + e.Ack.Until.Format("2006-01-02 15:04") + " UTC."
	if acceptsHTML(req.Headers) {
		return ackPage(200, "<h1>Reminders paused</h1>\n<p>"+html.EscapeString(message)+"</p>"), nil
	}
	return httpJSON(200, map[string]any{"finding": grant.FindingID, "pausedUntil": e.Ack.Until, "by": e.Ack.By, "message": message}), nil
}

// ackConfirmation is the page a GET of an acknowledgement link answers: what
// would be paused, until when, and the one button that does it (a POST of
// the same link: the form's action is the query the page was opened with).
func ackConfirmation(e ledger.Entry, g acklink.Grant) string {
	what := e.FindingID
	if e.Kind != "" || e.Dependency != "" {
		what = strings.TrimSpace(e.Kind + " " + e.Dependency)
	}
	return "<h1>Pause reminders?</h1>\n<p>Reminders about <strong>" + html.EscapeString(what) + "</strong> (" + html.EscapeString(e.FindingID) +
		") will pause until " + html.EscapeString(g.Until.Format("2006-01-02 15:04")) + " UTC. Use this when you are already working on it.</p>\n" +
		"<form method=\"post\"><button type=\"submit\">Pause reminders until " + html.EscapeString(g.Until.Format("2 January 2006")) + "</button></form>\n" +
		"<p>This link works until " + html.EscapeString(g.Expires.Format("2006-01-02 15:04")) + " UTC.</p>"
}

// ackPage wraps body in a small page that loads nothing and cannot be
// framed; the form posts back to the same URL (its signed query included).
func ackPage(status int, body string) *funchost.InvocationResponse {
	page := "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">" +
		"<meta name=\"robots\" content=\"noindex\"><title>IdP Keeper</title></head>\n<body>\n" + body + "\n</body></html>\n"
	return (&funchost.InvocationResponse{}).SetOutput("res", funchost.HTTPResponse{
		StatusCode: status,
		Body:       page,
		Headers: map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
			"Cache-Control":           "no-store",
			"Referrer-Policy":         "no-referrer",
			"X-Content-Type-Options":  "nosniff",
		},
	})
}

// acceptsHTML: a browser's form post asks for text/html first.
func acceptsHTML(headers map[string][]string) bool {
	for k, vs := range headers {
		if strings.EqualFold(k, "Accept") {
			for _, v := range vs {
				if strings.Contains(v, "text/html") {
					return true
				}
			}
		}
	}
	return false
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// approve applies a federation proposal: POST /api/approve?plan=ID&by=NAME
// with the function key. IDPKEEPER_APPLY decides whether it writes.
func (a *functionsApp) approve(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return httpJSON(400, map[string]string{"error": "request not understood"}), nil
	}
	planID := strings.TrimSpace(req.Query["plan"])
	if planID == "" {
		return httpJSON(400, map[string]string{"error": "give plan=PLAN-ID"}), nil
	}
	p, err := a.pipeline(ctx)
	if err != nil {
		return nil, err
	}
	if p.Repair == nil {
		return httpJSON(409, map[string]string{"error": "this app reads a snapshot: nothing can be approved"}), nil
	}
	by := "http"
	if v := strings.TrimSpace(req.Query["by"]); v != "" {
		by = "http:" + v
	}
	res, err := repair.Approve(ctx, *p.Repair, planID, by)
	switch {
	case errors.Is(err, repair.ErrInvalidID):
		return httpJSON(400, map[string]string{"error": err.Error()}), nil
	case errors.Is(err, repair.ErrStale):
		return httpJSON(409, map[string]string{"error": err.Error()}), nil
	case errors.Is(err, statestore.ErrNotFound):
		return httpJSON(404, map[string]string{"error": err.Error()}), nil
	case err != nil:
		return nil, err
	}
	return httpJSON(200, res), nil
}

// parseAckUntil reads an acknowledgement end date; a pause longer than 90
// days is refused so that nothing is silenced by accident for good.
func parseAckUntil(s string, now time.Time) (time.Time, error) {
	t, err := parseNow(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("until: %v", err)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("until %s is not in the future", t.Format("2006-01-02"))
	}
	if t.After(now.AddDate(0, 0, 90)) {
		return time.Time{}, fmt.Errorf("until %s is more than 90 days ahead: acknowledge again later instead", t.Format("2006-01-02"))
	}
	return t, nil
}

func httpJSON(status int, v any) *funchost.InvocationResponse {
	return httpAnswer(status, "application/json", mustJSON(v))
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
