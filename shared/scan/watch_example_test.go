package scan_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// watchScript is examples/fixture/watch.json: what the endpoint watch saw
// of the example tenant, as periods over a steady state.
type watchScript struct {
	Every     string `json:"every"`
	Days      int    `json:"days"`
	Endpoints []struct {
		Dependency string      `json:"dependency"`
		Role       string      `json:"role"`
		Step       string      `json:"step"`
		Up         scriptCheck `json:"up"`
		TLS        *struct {
			Subject  string    `json:"subject"`
			Issuer   string    `json:"issuer"`
			NotAfter time.Time `json:"notAfter"`
		} `json:"tls"`
		Periods []struct {
			From time.Time `json:"from"`
			To   time.Time `json:"to"`
			scriptCheck
		} `json:"periods"`
	} `json:"endpoints"`
}

type scriptCheck struct {
	State     string `json:"state"`
	Class     string `json:"class"`
	HTTP      int    `json:"http"`
	LatencyMs int64  `json:"latencyMs"`
	Detail    string `json:"detail"`
}

// exampleWatchState plays the script through the watch's own history code
// (watch.Store.Record: appending, outages, compaction) into a state store,
// ending at the capture time.
func exampleWatchState(t testing.TB, cfg *config.Config, inv inventory.Inventory) *watch.Memory {
	t.Helper()
	data, err := os.ReadFile(examplePath("fixture", "watch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sc watchScript
	if err := json.Unmarshal(data, &sc); err != nil {
		t.Fatal(err)
	}
	every, err := time.ParseDuration(sc.Every)
	if err != nil || every <= 0 || sc.Days <= 0 {
		t.Fatalf("watch.json: every %q, days %d", sc.Every, sc.Days)
	}
	eps := watch.Endpoints(inv, cfg)
	rules := watch.RulesFrom(cfg)
	state := &watch.Memory{}
	// The histories are built in memory first (one write each): the same
	// History.Record the store calls.
	for _, se := range sc.Endpoints {
		var ep *watch.Endpoint
		for i := range eps {
			if inventory.SameRef(eps[i].Dependency.Ref, se.Dependency) && string(eps[i].Role) == se.Role && string(eps[i].Step) == se.Step {
				ep = &eps[i]
			}
		}
		if ep == nil {
			t.Fatalf("watch.json: %s %s %s is not an endpoint of the example", se.Dependency, se.Role, se.Step)
		}
		h := &watch.History{Endpoint: watch.InfoOf(*ep)}
		var tls *watch.TLSInfo
		if se.TLS != nil {
			sum := sha256.Sum256([]byte(se.TLS.Subject + se.TLS.NotAfter.String()))
			tls = &watch.TLSInfo{Subject: se.TLS.Subject, Issuer: se.TLS.Issuer, NotAfter: se.TLS.NotAfter, SHA256: strings.ToUpper(hex.EncodeToString(sum[:])), Verified: true}
		}
		i := 0
		for at := capturedAt.Add(-time.Duration(sc.Days) * 24 * time.Hour).Add(every); !at.After(capturedAt); at = at.Add(every) {
			c := se.Up
			for _, p := range se.Periods {
				if !at.Before(p.From) && !at.After(p.To) {
					c = p.scriptCheck
				}
			}
			r := watch.Result{At: at, State: watch.State(c.State), Class: c.Class, HTTP: c.HTTP, LatencyMs: c.LatencyMs + int64(i*37%23), Detail: c.Detail, TLS: tls}
			if r.State == "" {
				r.State = watch.Up
			}
			if r.State == watch.Skipped {
				r.LatencyMs, r.TLS = 0, nil
			}
			if !h.Record(r, rules) {
				t.Fatalf("%s: result at %v not recorded", se.Dependency, at)
			}
			i++
		}
		data, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := state.Put(context.Background(), watch.DocumentName(ep.Key), data, statestore.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	return state
}

// The example's report — endpoint findings and availability included —
// is what docs/report.schema.json describes.
func TestExampleReportWithWatchMatchesSchema(t *testing.T) {
	res, err := scan.Run(context.Background(), scan.Options{Config: exampleConfig(t), Source: scan.Source{SnapshotDir: examplePath("tenant")}, Metadata: &scan.MetadataOptions{Store: &scan.MemoryStore{}}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, res.Report, report.FormatJSON); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("..", "..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const id = "https://github.com/idpkeeper/idpkeeper/docs/report.schema.json"
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Endpoints) == 0 {
		t.Fatal("the example report has no endpoints: the test checks nothing")
	}
}
