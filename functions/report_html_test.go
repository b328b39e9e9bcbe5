package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// updateReportPNG regenerates docs/report.png, the screenshot in README.md
// (make report-png).
var updateReportPNG = flag.Bool("update-report-png", false, "write docs/report.png from the example report")

// exampleReport is the example tenant's report as `scan --format json`
// prints it, read back: the model the page is rendered from.
func exampleReport(t *testing.T) report.Report {
	t.Helper()
	code, out, errOut := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--format", "json")
	if code != exitOK {
		t.Fatalf("scan: exit %d\n%s", code, errOut)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// report500 scans the benchmark tenant (BenchmarkScan500Partners: 500
// SAML/WS-Fed partners, two domains each) through the real SDK clients.
func report500(t testing.TB) report.Report {
	t.Helper()
	srv := azurefake.NewServer(generatedTenant(500))
	t.Cleanup(srv.Close)
	srv.PageSize = 100
	cfg := config.Default()
	cfg.KeyVaults = []string{"https://bench-kv.vault.azure.net/"}
	res, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Report
}

func renderHTML(t testing.TB, r report.Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, r, report.FormatHTML); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The page for the 500-partner benchmark tenant stays under 1 MB, so it can
// be mailed and opened anywhere.
func TestHTMLReport500PartnersSize(t *testing.T) {
	r := report500(t)
	page := renderHTML(t, r)
	t.Logf("500-partner report: %d findings, %d map nodes, page %d bytes", len(r.Findings), len(r.Map.Nodes), len(page))
	if len(r.Findings) < 1000 || len(r.Map.Nodes) < 500 {
		t.Fatalf("the benchmark tenant gave %d findings and %d nodes: not the tenant this test is about", len(r.Findings), len(r.Map.Nodes))
	}
	if len(page) >= 1<<20 {
		t.Errorf("page is %d bytes, want under 1 MB", len(page))
	}
	if got := strings.Count(string(page), `<tr id="F-`); got != len(r.Findings) {
		t.Errorf("%d finding rows for %d findings", got, len(r.Findings))
	}
}

// Building and rendering the page of the 500-partner benchmark tenant (the
// scan itself is BenchmarkScan500Partners).
//
//	go test -run='^$' -bench=HTMLReport500 -benchmem ./functions/
func BenchmarkHTMLReport500Partners(b *testing.B) {
	r := report500(b)
	var buf bytes.Buffer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := report.WriteHTML(&buf, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

func TestScanHTMLToFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.html")
	code, stdout, errOut := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--format", "html", "--out", out)
	if code != exitOK || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, errOut)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || bytes.Count(page, []byte(`<tr id="F-`)) != 21 {
		t.Errorf("--out file is not the example's page (%d bytes)", len(page))
	}
	// --fail-on still decides the exit status with --out.
	if code, _, _ := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--format", "html", "--out", out, "--fail-on", "critical"); code != exitFindings {
		t.Errorf("--fail-on critical with --out: exit %d", code)
	}
	if code, _, errOut := runCLI(t, "scan", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--out", filepath.Join(t.TempDir(), "missing", "r.html")); code != exitRead || !strings.Contains(errOut, "--out") {
		t.Errorf("unwritable --out: exit %d, %s", code, errOut)
	}
}

// chromium finds the system browser. Nothing is downloaded: without one the
// test skips, except in CI (CI set), where .ci/run installs Debian's
// chromium and a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("IDPKEEPER_CHROMIUM"), "chromium", "chromium-browser", "/usr/bin/chromium"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium binary (chromium, chromium-browser, /usr/bin/chromium or $IDPKEEPER_CHROMIUM) although CI is set: .ci/run installs Debian's chromium")
	}
	t.Skip("no Chromium binary found (chromium, chromium-browser, /usr/bin/chromium or $IDPKEEPER_CHROMIUM); install Debian's chromium to run the browser test")
	return ""
}

// artifactDir is where screenshots go: $IDPKEEPER_TEST_ARTIFACTS, else the
// gitignored build/test-artifacts/report-html.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IDPKEEPER_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "build", "test-artifacts")
	}
	dir = filepath.Join(dir, "report-html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	t.Logf("screenshots in %s", abs)
	return abs
}

// pageEvents collects what the browser says while the page runs.
type pageEvents struct {
	mu       sync.Mutex
	errors   []string
	requests []string
}

func (p *pageEvents) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			p.errors = append(p.errors, "console."+string(e.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		p.errors = append(p.errors, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
	case *cdplog.EventEntryAdded:
		// CSP violations and failed loads are reported here.
		if e.Entry != nil && e.Entry.Level == cdplog.EntryLevelError {
			p.errors = append(p.errors, "log: "+e.Entry.Text+" "+e.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		p.requests = append(p.requests, e.Request.URL)
	}
}

func (p *pageEvents) snapshot() (errs, reqs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errors), slices.Clone(p.requests)
}

// The example report and the 500-partner report in a real, headless
// Chromium: no console error, nothing fetched, one timeline mark per dated
// finding, one map node per model node, a map node filters the table, marks
// show their finding on focus and hover, and the filters work.
func TestHTMLReportInBrowser(t *testing.T) {
	bin := chromium(t)
	artifacts := artifactDir(t)
	start := time.Now()

	userData := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(userData),
		chromedp.WindowSize(1280, 1000),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}

	example := exampleReport(t)
	big := report500(t)
	withWatch := example
	withWatch.Endpoints = sampleEndpoints(example)

	for _, c := range []struct {
		name string
		r    report.Report
	}{{"example", example}, {"500-partners", big}, {"example-with-watch", withWatch}} {
		t.Run(c.name, func(t *testing.T) {
			pageStart := time.Now()
			checkPageInBrowser(t, browser, c.r, filepath.Join(artifacts, c.name))
			t.Logf("%s: %d bytes of HTML, checked in %v", c.name, len(renderHTML(t, c.r)), time.Since(pageStart).Round(time.Millisecond))
		})
	}
	t.Logf("browser test took %v (Chromium start included)", time.Since(start).Round(time.Millisecond))

	if *updateReportPNG {
		png := screenshotForREADME(t, browser, example)
		if err := os.WriteFile(filepath.Join("..", "docs", "report.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/report.png (%d bytes)", len(png))
	}
}

func evaluate[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

const visibleRowsJS = `Array.from(document.querySelectorAll('#findings-table tbody tr')).filter(r => !r.hidden).map(r => r.id)`

func checkPageInBrowser(t *testing.T, browser context.Context, r report.Report, prefix string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, renderHTML(t, r), 0o644); err != nil {
		t.Fatal(err)
	}
	pageURL := (&url.URL{Scheme: "file", Path: file}).String()

	// Generous: the machine running the tests may be busy with others.
	ctx, cancel := context.WithTimeout(browser, 6*time.Minute)
	defer cancel()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	events := &pageEvents{}
	if err := chromedp.Listen(ctx, events.listen); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 1000),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.ID("filters")), // the script ran
	); err != nil {
		t.Fatalf("loading the page: %v", err)
	}

	// The listener is live: an error logged now must be seen.
	evaluate[any](t, ctx, `console.error("listener-check"), null`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		errs, _ := events.snapshot()
		if slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, "listener-check") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the console listener saw nothing: the error check below could not fail")
		}
		time.Sleep(20 * time.Millisecond)
	}

	dated := 0
	for _, f := range r.Findings {
		if f.Due != nil {
			dated++
		}
	}
	if got := evaluate[int](t, ctx, `document.querySelectorAll('#timeline use[data-f]').length`); got != dated {
		t.Errorf("timeline has %d marks, want %d (one per dated finding)", got, dated)
	}
	if got := evaluate[int](t, ctx, `new Set(Array.from(document.querySelectorAll('#timeline use[data-f]')).map(m => m.dataset.f)).size`); got != dated {
		t.Errorf("timeline marks name %d distinct findings, want %d", got, dated)
	}
	if got := evaluate[int](t, ctx, `document.querySelectorAll('#map .node').length`); got != len(r.Map.Nodes) {
		t.Errorf("map has %d nodes, want %d", got, len(r.Map.Nodes))
	}
	if got := evaluate[int](t, ctx, `document.querySelectorAll('#map .edges path').length`); got != len(r.Map.Edges) {
		t.Errorf("map has %d edges, want %d", got, len(r.Map.Edges))
	}
	if got := evaluate[[]string](t, ctx, visibleRowsJS); len(got) != len(r.Findings) {
		t.Fatalf("%d visible rows before filtering, want %d", len(got), len(r.Findings))
	}
	// The marks sit inside the drawing, not on top of each other's rows.
	if got := evaluate[int](t, ctx, `(() => { const b = document.getElementById('timeline').getBoundingClientRect(); return Array.from(document.querySelectorAll('#timeline use[data-f]')).filter(m => { const r = m.getBoundingClientRect(); return r.width < 4 || r.left < b.left || r.right > b.right + 1 }).length })()`); got != 0 {
		t.Errorf("%d timeline marks are outside the drawing or invisible", got)
	}

	pngs := map[string][]byte{}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	pngs["top"] = shot

	if png, err := clipShot(ctx, `#findings`); err == nil {
		pngs["findings"] = png
	} else {
		t.Error(err)
	}

	// Clicking a map node shows only its findings; clicking again shows all.
	node := busiestNode(r)
	if node < 0 {
		t.Fatal("no map node has a finding")
	}
	sel := chromedp.JSPath(fmt.Sprintf(`document.querySelectorAll('#map .node')[%d]`, node))
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(sel), chromedp.Click(sel)); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(r.Map.Nodes[node].Findings)
	got := evaluate[[]string](t, ctx, visibleRowsJS)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) || len(got) == len(r.Findings) {
		t.Errorf("after clicking %s the table shows %v, want %v", r.Map.Nodes[node].ID, got, want)
	}
	if pressed := evaluate[string](t, ctx, string(sel)+`.getAttribute('aria-pressed')`); pressed != "true" {
		t.Errorf("selected node has aria-pressed=%q", pressed)
	}
	if png, err := clipShot(ctx, `#map-box`); err == nil {
		pngs["map-selected"] = png
	} else {
		t.Error(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(sel)); err != nil {
		t.Fatal(err)
	}
	if got := evaluate[[]string](t, ctx, visibleRowsJS); len(got) != len(r.Findings) {
		t.Errorf("clicking the node again shows %d rows, want all %d", len(got), len(r.Findings))
	}

	// Keyboard: a mark takes focus and shows its finding; Enter on a map
	// node filters too.
	var mark string
	for _, f := range r.Findings {
		if f.Due != nil {
			mark = f.ID
			break
		}
	}
	markSel := `#timeline use[data-f][data-f="` + mark + `"]`
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(markSel))); err != nil {
		t.Fatal(err)
	}
	if got := evaluate[string](t, ctx, `document.activeElement.getAttribute('data-f') || ''`); got != mark {
		t.Errorf("focus went to %q, not the mark of %s", got, mark)
	}
	tip := evaluate[string](t, ctx, `document.getElementById('tip').hidden ? '' : document.getElementById('tip').textContent`)
	if !strings.Contains(tip, mark) || !strings.Contains(tip, r.Findings[0].Action[:20]) && mark == r.Findings[0].ID {
		t.Errorf("focusing the mark of %s shows tooltip %q", mark, tip)
	}
	if err := chromedp.Do(ctx, chromedp.Blur(chromedp.CSS(markSel))); err != nil {
		t.Fatal(err)
	}
	if hidden := evaluate[bool](t, ctx, `document.getElementById('tip').hidden`); !hidden {
		t.Error("the tooltip stays after the mark loses focus")
	}
	// Hovering with the mouse shows it as well.
	// Away first: a pointer already resting on the mark fires no mouseover.
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 2, 2)); err != nil {
		t.Fatal(err)
	}
	box := evaluate[[2]float64](t, ctx, `(() => { const m = document.querySelector('`+markSel+`'); m.scrollIntoView({block: 'center'}); const r = m.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2] })()`)
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0], box[1])); err != nil {
		t.Fatal(err)
	}
	if tip := evaluate[string](t, ctx, `document.getElementById('tip').hidden ? '' : document.getElementById('tip').textContent`); !strings.Contains(tip, mark) {
		under := evaluate[string](t, ctx, fmt.Sprintf(`(() => { const e = document.elementFromPoint(%f, %f); return e ? e.outerHTML.slice(0, 200) : 'nothing' })()`, box[0], box[1]))
		t.Errorf("hovering the mark of %s at %v shows tooltip %q; the pointer is over %s", mark, box, tip, under)
	}
	if png, err := clipShot(ctx, `#timeline-box`); err == nil {
		pngs["timeline-hover"] = png
	} else {
		t.Error(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 2, 2)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Focus(sel), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	if got := evaluate[[]string](t, ctx, visibleRowsJS); len(got) != len(r.Map.Nodes[node].Findings) {
		t.Errorf("Enter on a map node shows %d rows, want %d", len(got), len(r.Map.Nodes[node].Findings))
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("f-reset"))); err != nil {
		t.Fatal(err)
	}

	// Filters: severity, then kind and owner together.
	for _, sev := range []string{"expired", "warning"} {
		if !slices.ContainsFunc(r.Findings, func(f assess.Finding) bool { return f.Severity.String() == sev }) {
			continue // no option for an absent severity
		}
		evaluate[any](t, ctx, `(() => { const s = document.getElementById('f-sev'); s.value = '`+sev+`'; s.dispatchEvent(new Event('change')); return null })()`)
		want := 0
		for _, f := range r.Findings {
			if f.Severity.String() == sev {
				want++
			}
		}
		if got := evaluate[[]string](t, ctx, visibleRowsJS); len(got) != want {
			t.Errorf("severity %s shows %d rows, want %d", sev, len(got), want)
		}
	}
	f0 := r.Findings[len(r.Findings)-1]
	evaluate[any](t, ctx, `(() => { const s = document.getElementById('f-sev'); s.value = ''; const k = document.getElementById('f-kind'); k.value = '`+f0.Kind+`'; k.dispatchEvent(new Event('change')); return null })()`)
	want = nil
	for _, f := range r.Findings {
		if f.Kind == f0.Kind {
			want = append(want, f.ID)
		}
	}
	if got := evaluate[[]string](t, ctx, visibleRowsJS); len(got) != len(want) {
		t.Errorf("kind %s shows %d rows, want %d", f0.Kind, len(got), len(want))
	}
	if png, err := clipShot(ctx, `#findings`); err == nil {
		pngs["findings-filtered"] = png
	} else {
		t.Error(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("f-reset"))); err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) < 100 {
		if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			pngs["full"] = shot
		} else {
			t.Error(err)
		}
	}
	if len(r.Partners) > 0 {
		if png, err := clipShot(ctx, `table.partners`); err == nil {
			pngs["partners"] = png
		} else {
			t.Error(err)
		}
	}
	// Printed: the controls are left out and the drawings are not cut to a
	// scroll box; the table prints as filtered.
	printed := chromedp.Action[[]any](func(ctx context.Context, tg *chromedp.Target) ([]any, error) {
		if _, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
			return nil, err
		}
		defer cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return chromedp.Evaluate[[]any](`[getComputedStyle(document.getElementById('filters')).display, getComputedStyle(document.querySelector('nav')).display, getComputedStyle(document.getElementById('timeline-box')).overflowY, getComputedStyle(document.getElementById('timeline-box')).maxHeight]`)(ctx, tg)
	})
	if got, err := chromedp.Run(ctx, printed); err != nil || fmt.Sprint(got) != "[none none visible none]" {
		t.Errorf("print styles: %v %v; want filters and navigation hidden, the timeline uncut", got, err)
	}

	for name, png := range pngs {
		path := prefix + "-" + name + ".png"
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Error(err)
		}
	}

	errs, reqs := events.snapshot()
	var real []string
	for _, e := range errs {
		if !strings.Contains(e, "listener-check") {
			real = append(real, e)
		}
	}
	if len(real) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(real, "\n"))
	}
	for _, u := range reqs {
		if u != pageURL && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page fetched %s; it must be self-contained", u)
		}
	}
}

// clipShot scrolls the element that matches the CSS selector to the top
// and captures the viewport. It never captures beyond the viewport: for
// that Chromium lays out the whole page at once, which for the 500-partner
// report (100,000 pixels tall) takes longer than the rest of the test.
func clipShot(ctx context.Context, selector string) ([]byte, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.querySelector('`+selector+`').scrollIntoView({block: 'start'}), null`)); err != nil {
		return nil, err
	}
	return chromedp.Run(ctx, chromedp.CaptureScreenshot())
}

// busiestNode is the map node with the most findings that does not hold
// them all (so that filtering by it visibly filters).
func busiestNode(r report.Report) int {
	best, n := -1, 0
	for i, nd := range r.Map.Nodes {
		if len(nd.Findings) > n && len(nd.Findings) < len(r.Findings) {
			best, n = i, len(nd.Findings)
		}
	}
	return best
}

// sampleEndpoints is what the endpoint watch (issue 13) could report for the
// example tenant: Northwind's sign-in page down, the others up.
func sampleEndpoints(r report.Report) []report.EndpointAvailability {
	f := func(v float64) *float64 { return &v }
	since := r.EvaluatedAt.Add(-5 * time.Hour)
	checked := r.EvaluatedAt.Add(-4 * time.Minute)
	var out []report.EndpointAvailability
	for _, p := range r.Partners {
		e := report.EndpointAvailability{
			Endpoint: "https://sts." + p.Domains[0] + "/adfs/ls/", Role: "sign-in", Dependency: p.Ref,
			Availability: report.Availability{Day1: f(1), Day7: f(0.9993), Day30: f(0.9987)}, LastChecked: &checked,
		}
		if strings.HasPrefix(p.Name, "Northwind") {
			e.Availability = report.Availability{Day1: f(0.79), Day7: f(0.97), Day30: f(0.992)}
			e.OutageSince = &since
		}
		out = append(out, e)
	}
	return out
}

// screenshotForREADME is the top of the example report: header, timeline
// and map.
func screenshotForREADME(t *testing.T, browser context.Context, r report.Report) []byte {
	t.Helper()
	r.GeneratedAt = r.EvaluatedAt         // a stable picture
	r.Source = "snapshot:examples/tenant" // as README's command prints it
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, renderHTML(t, r), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(browser, time.Minute)
	defer cancel()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 1000),
		chromedp.Navigate((&url.URL{Scheme: "file", Path: file}).String()),
		chromedp.WaitVisible(chromedp.ID("filters")),
	); err != nil {
		t.Fatal(err)
	}
	// Everything down to the end of the partner table.
	clip := chromedp.Action[[]byte](func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		bottom, err := chromedp.Evaluate[float64](`document.querySelector('table.partners').getBoundingClientRect().bottom + window.scrollY + 16`)(ctx, tg)
		if err != nil {
			return nil, err
		}
		yes := true
		res, err := cdp.Call(ctx, tg, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng, FromSurface: &yes, CaptureBeyondViewport: &yes,
			Clip: &page.Viewport{Width: 1280, Height: bottom, Scale: 1},
		})
		return res.Data, err
	})
	png, err := chromedp.Run(ctx, clip)
	if err != nil {
		t.Fatal(err)
	}
	return png
}
