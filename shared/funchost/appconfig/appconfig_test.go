package appconfig

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const modulePath = "github.com/idpkeeper/idpkeeper"

// repoRoot walks up from the test's working directory to the go.mod of this
// module.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && regexp.MustCompile(`(?m)^module\s+`+regexp.QuoteMeta(modulePath)+`\s*$`).Match(b) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("go.mod for %s not found above the test directory", modulePath)
		}
		dir = parent
	}
}

// schemasDir finds the copied SchemaStore schemas: $IDPKEEPER_SCHEMAS_DIR, or
// the first shared/schemas folder found walking up from the repo root's
// parent (the workspace keeps them outside the module, at ../shared/schemas).
// It returns "" when none is found.
func schemasDir(root string) string {
	if d := os.Getenv("IDPKEEPER_SCHEMAS_DIR"); d != "" {
		return d
	}
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "schemas")
		if fileExists(filepath.Join(cand, "host.json")) && fileExists(filepath.Join(cand, "function.json")) {
			return cand
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// compileSchema loads a schema file offline. The SchemaStore files carry only
// local "#/definitions/…" references, and their $schema meta-schemas (draft-04,
// draft-07) are embedded in the library; the loader is restricted to file: so
// any remote $ref fails loudly instead of reaching the network.
//
// Draft-04 schemas that use "const" are evaluated as draft-07 (in memory; the
// copied file is not modified, per shared/schemas/SOURCES.md). SchemaStore's
// function.json declares draft-04 but its sqlBinding/mySqlBinding branches
// constrain "type" only with "const" — a draft-06 keyword that draft-04
// ignores — so under strict draft-04 those branches match *every* binding and
// the "oneOf" rejects all timer/http/… bindings ("subschemas 4, 13 matched").
// The file uses no other keyword whose meaning differs between the drafts
// (no boolean exclusiveMinimum/Maximum; root "id" only names the document).
func compileSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m, ok := doc.(map[string]any); ok && m["$schema"] == draft04 && usesKeyword(m, "const") {
		m["$schema"] = draft07
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + filepath.ToSlash(abs)
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{"file": jsonschema.FileLoader{}})
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return sch
}

const (
	draft04 = "http://json-schema.org/draft-04/schema#"
	draft07 = "http://json-schema.org/draft-07/schema#"
)

// usesKeyword reports whether kw appears as a keyword (an object key outside
// "properties" maps) anywhere in the schema document.
func usesKeyword(v any, kw string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if k == kw {
				return true
			}
			if k == "properties" || k == "definitions" || k == "patternProperties" {
				if m, ok := vv.(map[string]any); ok {
					for _, sub := range m {
						if usesKeyword(sub, kw) {
							return true
						}
					}
				}
				continue
			}
			if usesKeyword(vv, kw) {
				return true
			}
		}
	case []any:
		for _, vv := range x {
			if usesKeyword(vv, kw) {
				return true
			}
		}
	}
	return false
}

func loadInstance(t *testing.T, path string) any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s is not valid JSON: %v", path, err)
	}
	return v
}

// functionJSONs returns functions/<Name>/function.json paths keyed by Name —
// exactly the folders `make stage` copies one level under host.json.
func functionJSONs(t *testing.T, root string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(root, "functions", e.Name(), "function.json")
		if fileExists(p) {
			out[e.Name()] = p
		} else {
			t.Logf("functions/%s has no function.json; not staged as a function", e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no functions/*/function.json found")
	}
	return out
}

func TestSchemas(t *testing.T) {
	root := repoRoot(t)
	dir := schemasDir(root)
	if dir == "" {
		// Not a failure: the schemas live outside the module (workspace copy).
		// The host-rule checks below still run.
		t.Log("shared/schemas not found above", root, "- schema validation not performed (set IDPKEEPER_SCHEMAS_DIR)")
		return
	}
	t.Logf("schemas from %s", dir)

	hostSchema := compileSchema(t, filepath.Join(dir, "host.json"))
	if err := hostSchema.Validate(loadInstance(t, filepath.Join(root, "host.json"))); err != nil {
		t.Errorf("host.json does not match the host.json schema:\n%v", err)
	}

	fnSchema := compileSchema(t, filepath.Join(dir, "function.json"))
	for name, p := range functionJSONs(t, root) {
		if err := fnSchema.Validate(loadInstance(t, p)); err != nil {
			t.Errorf("functions/%s/function.json does not match the function.json schema:\n%v", name, err)
		}
	}
}

// TestSchemasRejectBadConfig proves the schema check has teeth: a typo in the
// strict customHandler section and a bad functionTimeout must fail.
func TestSchemasRejectBadConfig(t *testing.T) {
	root := repoRoot(t)
	dir := schemasDir(root)
	if dir == "" {
		t.Log("shared/schemas not found - negative schema checks not performed")
		return
	}
	hostSchema := compileSchema(t, filepath.Join(dir, "host.json"))
	for name, doc := range map[string]string{
		"unknown customHandler key": `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"idpkeeper"},"enableForwardingHttpRequests":false}}`,
		"functionTimeout > 1 day":   `{"version":"2.0","functionTimeout":"24:00:00"}`,
		"wrong version":             `{"version":"3.0"}`,
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if hostSchema.Validate(v) == nil {
			t.Errorf("%s: schema accepted %s", name, doc)
		}
	}

	fnSchema := compileSchema(t, filepath.Join(dir, "function.json"))
	for name, doc := range map[string]string{
		"timer trigger as output": `{"bindings":[{"type":"timerTrigger","direction":"out","name":"timer","schedule":"0 0 6 * * *"}]}`,
		"bad authLevel":           `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"superuser"}]}`,
		"binding without name":    `{"bindings":[{"type":"timerTrigger","direction":"in","schedule":"0 0 6 * * *"}]}`,
		"bad direction":           `{"bindings":[{"type":"eventGridTrigger","direction":"sideways","name":"event"}]}`,
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if fnSchema.Validate(v) == nil {
			t.Errorf("%s: function.json schema accepted %s", name, doc)
		}
	}
}

// TestSchemasAcceptPlannedBindings checks that the bindings planned for later
// functions (Key Vault events, Service Bus jobs) pass the schema, in the shape
// the binding references document them (MicrosoftDocs/azure-docs
// articles/azure-functions/functions-bindings-event-grid-trigger.md and
// functions-bindings-service-bus-trigger.md, "function.json properties"), so
// adding them will not trip TestSchemas.
func TestSchemasAcceptPlannedBindings(t *testing.T) {
	dir := schemasDir(repoRoot(t))
	if dir == "" {
		t.Log("shared/schemas not found - planned-binding schema checks not performed")
		return
	}
	fnSchema := compileSchema(t, filepath.Join(dir, "function.json"))
	for name, doc := range map[string]string{
		"eventGridTrigger": `{"bindings":[{"type":"eventGridTrigger","direction":"in","name":"event"}]}`,
		"serviceBusTrigger + output": `{"bindings":[
			{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"jobs","connection":"ServiceBusConnection","isSessionsEnabled":false,"autoCompleteMessages":true},
			{"type":"serviceBus","direction":"out","name":"jobs","queueName":"jobs","connection":"ServiceBusConnection"}]}`,
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := fnSchema.Validate(v); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// binding is the subset of a function.json binding the host rules need.
type binding map[string]any

func (b binding) str(key string) string {
	for k, v := range b {
		if strings.EqualFold(k, key) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

type functionJSON struct {
	Bindings []binding `json:"bindings"`
}

func readFunction(t *testing.T, path string) functionJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f functionJSON
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// TestFunctionFolders applies the host's discovery rules (Azure/azure-functions-host
// HostFunctionMetadataProvider / Utility
// FunctionNameValidationRegex / FunctionDescriptorProvider.ValidateFunction):
// folder name = function name matching ^[a-z][a-z0-9_\-]{0,127}$ (ignore
// case, not "host"), names unique ignoring case, ≥1 binding, exactly one
// trigger, binding names unique.
func TestFunctionFolders(t *testing.T) {
	root := repoRoot(t)
	seen := map[string]string{}
	for name, p := range functionJSONs(t, root) {
		if !funchost.ValidFunctionName(name) {
			t.Errorf("functions/%s: folder name is not a valid function name (^[a-z][a-z0-9_-]{0,127}$, not \"host\")", name)
		}
		if prev, dup := seen[strings.ToLower(name)]; dup {
			t.Errorf("functions/%s and functions/%s differ only in case; the host treats them as one function", name, prev)
		}
		seen[strings.ToLower(name)] = name

		f := readFunction(t, p)
		if len(f.Bindings) == 0 {
			t.Errorf("functions/%s: no bindings", name)
		}
		if triggers := triggerTypes(f); len(triggers) != 1 {
			t.Errorf("functions/%s: %d triggers %v, the host requires exactly one", name, len(triggers), triggers)
		}
		names := map[string]bool{}
		for i, b := range f.Bindings {
			n := strings.ToLower(b.str("name"))
			if n == "" {
				t.Errorf("functions/%s: binding %d has no name", name, i)
			} else if names[n] {
				t.Errorf("functions/%s: binding name %q used twice", name, b.str("name"))
			}
			names[n] = true
		}
	}
}

// triggerTypes lists bindings the host counts as triggers (type ends in
// "Trigger", ignoring case — BindingMetadata.IsTrigger).
func triggerTypes(f functionJSON) []string {
	var out []string
	for _, b := range f.Bindings {
		if typ := b.str("type"); strings.HasSuffix(strings.ToLower(typ), "trigger") {
			out = append(out, typ)
		}
	}
	return out
}

func TestTriggerTypesCountsTriggers(t *testing.T) {
	f := functionJSON{Bindings: []binding{{"type": "timerTrigger"}, {"type": "HTTPTRIGGER"}, {"type": "http"}}}
	if got := triggerTypes(f); !reflect.DeepEqual(got, []string{"timerTrigger", "HTTPTRIGGER"}) {
		t.Errorf("triggerTypes = %v", got)
	}
}

// TestHostJSONInvariants pins the host.json choices the Go side relies on.
func TestHostJSONInvariants(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Version       string `json:"version"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				Arguments             []string `json:"arguments"`
			} `json:"description"`
			EnableForwardingHttpRequest bool `json:"enableForwardingHttpRequest"`
			EnableProxyingHttpRequest   bool `json:"enableProxyingHttpRequest"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	d := h.CustomHandler.Description
	// The Makefile stages the binary as build/app/idpkeeper and `serve` starts
	// the custom handler.
	if d.DefaultExecutablePath != "idpkeeper" || !reflect.DeepEqual(d.Arguments, []string{"serve"}) {
		t.Errorf("customHandler.description = %q %v, want \"idpkeeper\" [serve]", d.DefaultExecutablePath, d.Arguments)
	}
	// The router expects HTTP triggers as POST /<FunctionName> with Data.req;
	// forwarding or proxying would send the raw request to /api/<route> instead.
	if h.CustomHandler.EnableForwardingHttpRequest || h.CustomHandler.EnableProxyingHttpRequest {
		t.Error("customHandler forwarding/proxying must stay off: funchost.Router serves POST /<FunctionName>")
	}
}

// settingRefRE matches %AppSetting% references in binding values.
var settingRefRE = regexp.MustCompile(`%([A-Za-z0-9_.:\-]+)%`)

// requiredSettings lists the app settings a function.json needs: every
// %NAME% in any string value, and every "connection" value (the name of a
// setting holding a connection string, or the prefix of identity-based
// NAME__… settings; Core Tools warns when it is missing).
func requiredSettings(doc any) []string {
	set := map[string]bool{}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				walk(k, vv)
			}
		case []any:
			for _, vv := range x {
				walk(key, vv)
			}
		case string:
			for _, m := range settingRefRE.FindAllStringSubmatch(x, -1) {
				set[m[1]] = true
			}
			if strings.EqualFold(key, "connection") && x != "" && !strings.Contains(x, "%") {
				set[x] = true
			}
		}
	}
	walk("", doc)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// missingSettings returns the required settings absent from values. A
// connection name is satisfied by NAME or by identity-based NAME__* keys.
func missingSettings(required []string, values map[string]string) []string {
	var missing []string
	for _, name := range required {
		if _, ok := values[name]; ok {
			continue
		}
		found := false
		for k := range values {
			if strings.HasPrefix(k, name+"__") {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, name)
		}
	}
	return missing
}

func readSampleSettings(t *testing.T, root string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		IsEncrypted bool              `json:"IsEncrypted"`
		Values      map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("local.settings.sample.json: %v (Values must map names to strings)", err)
	}
	if s.IsEncrypted {
		t.Error("local.settings.sample.json: IsEncrypted must be false for a committed sample")
	}
	return s.Values
}

// TestSettingsReferencedAreInSample fails when a function.json uses a
// %SETTING% (or connection name) that local.settings.sample.json does not
// define — `func start` would otherwise fail or bind an empty value.
func TestSettingsReferencedAreInSample(t *testing.T) {
	root := repoRoot(t)
	values := readSampleSettings(t, root)
	for name, p := range functionJSONs(t, root) {
		var doc any
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, s := range missingSettings(requiredSettings(doc), values) {
			t.Errorf("functions/%s/function.json uses setting %q, which local.settings.sample.json Values does not define", name, s)
		}
	}
	// Core Tools refuses to start without these (Azure/azure-functions-core-tools
	// src/Azure.Functions.Cli/Actions/HostActions/StartHostAction.cs: "Missing
	// value for AzureWebJobsStorage in local.settings.json" for any trigger but
	// HTTP; Helpers/WorkerRuntimeLanguageHelper.cs reads FUNCTIONS_WORKER_RUNTIME
	// to pick the worker).
	for _, k := range []string{"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"} {
		if values[k] == "" {
			t.Errorf("local.settings.sample.json: %s is required by func start", k)
		}
	}
	if !strings.EqualFold(values["FUNCTIONS_WORKER_RUNTIME"], "custom") {
		t.Errorf("FUNCTIONS_WORKER_RUNTIME = %q, want custom", values["FUNCTIONS_WORKER_RUNTIME"])
	}
}

// TestSettingsCheckDetectsMissing shows the check above can fail: a binding
// referencing an undefined setting is reported, defined ones are not.
func TestSettingsCheckDetectsMissing(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"bindings":[
		{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%IDPKEEPER_SCAN_SCHEDULE%"},
		{"type":"serviceBus","direction":"out","name":"jobs","queueName":"%JOBS_QUEUE%","connection":"ServiceBusConnection"},
		{"type":"blob","direction":"in","name":"b","path":"c/{x}.txt","connection":"Storage"}]}`), &doc); err != nil {
		t.Fatal(err)
	}
	req := requiredSettings(doc)
	if want := []string{"IDPKEEPER_SCAN_SCHEDULE", "JOBS_QUEUE", "ServiceBusConnection", "Storage"}; !reflect.DeepEqual(req, want) {
		t.Fatalf("requiredSettings = %v, want %v", req, want)
	}
	values := map[string]string{
		"IDPKEEPER_SCAN_SCHEDULE":                       "0 0 6 * * *",
		"ServiceBusConnection__fullyQualifiedNamespace": "sb.servicebus.windows.net",
	}
	if got := missingSettings(req, values); !reflect.DeepEqual(got, []string{"JOBS_QUEUE", "Storage"}) {
		t.Errorf("missingSettings = %v, want [JOBS_QUEUE Storage]", got)
	}
}

// TestRepoFilesAreFormattedJSON guards against hand-edit slips (BOMs, trailing
// commas) in every config file the host reads.
func TestRepoFilesAreFormattedJSON(t *testing.T) {
	root := repoRoot(t)
	paths := []string{filepath.Join(root, "host.json"), filepath.Join(root, "local.settings.sample.json")}
	for _, p := range functionJSONs(t, root) {
		paths = append(paths, p)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s missing", p)
			continue
		}
		if len(b) >= 3 && string(b[:3]) == "\xef\xbb\xbf" {
			t.Errorf("%s starts with a UTF-8 BOM", p)
		}
		if !json.Valid(b) {
			t.Errorf("%s is not valid JSON", p)
		}
	}
}
