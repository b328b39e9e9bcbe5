package funchost

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixture loads a full invocation body from testdata/ (see testdata/README.md
// for the source of each shape).
func fixture(t *testing.T, file, function string) *Invocation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := NewInvocation(function, "11111111-2222-3333-4444-555555555555", b)
	if err != nil {
		t.Fatalf("NewInvocation(%s): %v", file, err)
	}
	return inv
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func TestTimerFirstRun(t *testing.T) {
	// Shape: [W1] in doc.go, observed Go custom-handler payload (dazfuller blog).
	inv := fixture(t, "timer_first_run.json", "ScanTimer")
	ti, err := inv.Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	if !ti.Schedule.AdjustForDST || ti.IsPastDue {
		t.Errorf("Schedule/IsPastDue = %+v / %v", ti.Schedule, ti.IsPastDue)
	}
	if ti.ScheduleStatus == nil {
		t.Fatal("ScheduleStatus = nil, want present")
	}
	if !ti.ScheduleStatus.Last.IsZero() {
		t.Errorf("Last = %v, want zero (\"never\") for 0001-01-01T00:00:00", ti.ScheduleStatus.Last)
	}
	if got, want := ti.ScheduleStatus.Next.Time, mustTime(t, "2024-11-30T14:45:51Z"); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
	if got, want := ti.ScheduleStatus.LastUpdated.Time, mustTime(t, "2024-11-30T14:43:50.403838Z"); !got.Equal(want) {
		t.Errorf("LastUpdated = %v, want %v", got, want)
	}
	sys := inv.Sys()
	if sys.MethodName != "ScanTimer" || sys.RandGuid == "" {
		t.Errorf("Sys = %+v", sys)
	}
	if got, want := sys.UtcNow.Time, mustTime(t, "2024-11-30T14:45:51.0123456Z"); !got.Equal(want) {
		t.Errorf("sys.UtcNow = %v, want %v (7 fractional digits, .NET \"o\")", got, want)
	}
}

func TestTimerDefaultsAndOffsets(t *testing.T) {
	// Shape: azure-webjobs-sdk-extensions PR #825 (host defaults, -08:00 offset).
	inv := fixture(t, "timer_defaults.json", "ScanTimer")
	ti, err := inv.Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	st := ti.ScheduleStatus
	if st == nil || !st.Last.IsZero() || !st.LastUpdated.IsZero() {
		t.Fatalf("ScheduleStatus = %+v, want zero Last and LastUpdated", st)
	}
	if got, want := st.Next.Time, mustTime(t, "2023-02-15T00:50:00Z"); !got.Equal(want) {
		t.Errorf("Next = %v, want %v (offset honoured)", got, want)
	}
	if st.Next.Location() != time.UTC {
		t.Errorf("Next location = %v, want UTC", st.Next.Location())
	}
}

func TestTimerWithoutMonitor(t *testing.T) {
	// Shape: TimerInfo.cs — ScheduleStatus null when useMonitor is false.
	inv := fixture(t, "timer_no_monitor.json", "ScanTimer")
	ti, err := inv.Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	if ti.ScheduleStatus != nil {
		t.Errorf("ScheduleStatus = %+v, want nil", ti.ScheduleStatus)
	}
	if !ti.IsPastDue {
		t.Error("IsPastDue = false, want true")
	}
}

// kvEventData mirrors the Key Vault event data as the docs show it (odd casing
// and a trailing space in "ObjectName "); decoding stays the caller's job.
type kvEventData struct {
	ID         string `json:"Id"`
	VaultName  string `json:"VaultName"`
	ObjectType string `json:"ObjectType"`
	EXP        string `json:"EXP"`
}

func TestEventGridKeyVaultBothSchemas(t *testing.T) {
	for _, tc := range []struct {
		file   string
		schema EventSchema
	}{
		// Shapes: KarlGW/azfunc trigger/event_grid_test.go envelope +
		// MicrosoftDocs event-schema-key-vault.md events (testdata/README.md).
		{"eventgrid_keyvault_egschema.json", SchemaEventGrid},
		{"eventgrid_keyvault_cloudevents.json", SchemaCloudEvents},
	} {
		t.Run(string(tc.schema), func(t *testing.T) {
			inv := fixture(t, tc.file, "KeyVaultEvents")
			ev, err := inv.EventGridEvent("event")
			if err != nil {
				t.Fatal(err)
			}
			if ev.Schema != tc.schema {
				t.Errorf("Schema = %q, want %q", ev.Schema, tc.schema)
			}
			if ev.Type != "Microsoft.KeyVault.SecretNearExpiry" {
				t.Errorf("Type = %q", ev.Type)
			}
			if ev.ID != "00eccf70-95a7-4e7c-8299-2eb17ee9ad64" || ev.Subject != "b2c-google-client-secret" {
				t.Errorf("ID/Subject = %q/%q", ev.ID, ev.Subject)
			}
			if !strings.HasSuffix(ev.Source, "/vaults/sample-kv") || ev.Topic != ev.Source {
				t.Errorf("Source/Topic = %q/%q", ev.Source, ev.Topic)
			}
			if got, want := ev.Time, mustTime(t, "2019-07-25T01:08:33.1036736Z"); !got.Equal(want) {
				t.Errorf("Time = %v, want %v", got, want)
			}
			// Data stays raw JSON (an object), for the Key Vault package to parse.
			if len(ev.Data) == 0 || ev.Data[0] != '{' {
				t.Fatalf("Data = %s, want raw object", ev.Data)
			}
			var d kvEventData
			if err := ev.DecodeData(&d); err != nil {
				t.Fatal(err)
			}
			if d.VaultName != "sample-kv" || d.ObjectType != "Secret" || d.EXP != "1559082102" ||
				!strings.Contains(d.ID, "/secrets/b2c-google-client-secret/") {
				t.Errorf("data = %+v", d)
			}
			// Metadata.data duplicates the event data (binding contract {"data"}).
			var md kvEventData
			if err := inv.DecodeMetadata("data", &md); err != nil || md != d {
				t.Errorf("Metadata.data = %+v, %v; want %+v", md, err, d)
			}
			if tc.schema == SchemaEventGrid && (ev.DataVersion != "1" || ev.MetadataVersion != "1") {
				t.Errorf("versions = %q/%q", ev.DataVersion, ev.MetadataVersion)
			}
			if tc.schema == SchemaCloudEvents && ev.SpecVersion != "1.0" {
				t.Errorf("SpecVersion = %q", ev.SpecVersion)
			}
		})
	}
}

func TestEventGridEventsBatchAndErrors(t *testing.T) {
	body := `{"Data":{"event":[
		{"id":"1","eventType":"a","subject":"s","eventTime":"2026-01-01T00:00:00Z","data":{"x":1},"dataVersion":"1","metadataVersion":"1","topic":"t"},
		{"id":"2","specversion":"1.0","type":"b","source":"src","data":"{\"y\":2}"}]},"Metadata":{}}`
	inv, err := NewInvocation("Events", "", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := inv.EventGridEvents("event")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != "a" || evs[1].Type != "b" || evs[1].Schema != SchemaCloudEvents {
		t.Fatalf("events = %+v", evs)
	}
	// CloudEvents data sent as a JSON string decodes like an object.
	var y struct{ Y int }
	if err := evs[1].DecodeData(&y); err != nil || y.Y != 2 {
		t.Errorf("string data: %+v, %v", y, err)
	}
	if evs[1].Time.IsZero() == false {
		t.Errorf("missing time should be zero, got %v", evs[1].Time)
	}

	bad, _ := NewInvocation("Events", "", []byte(`{"Data":{"event":{"id":"x","data":{}}}}`))
	if _, err := bad.EventGridEvent("event"); err == nil {
		t.Error("event without eventType/specversion: want error")
	}
	if _, err := bad.EventGridEvents("nope"); !errors.Is(err, ErrNoData) {
		t.Errorf("missing binding: err = %v, want ErrNoData", err)
	}
}

func TestServiceBusJSONBody(t *testing.T) {
	// Shape: KarlGW/azfunc trigger/service_bus_test.go + host double encoding.
	inv := fixture(t, "servicebus_json_body.json", "Jobs")
	m, err := inv.ServiceBusMessage("msg")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Body) != `{"kind":"rotate","id":"job-42"}` {
		t.Errorf("Body = %s", m.Body)
	}
	var job struct{ Kind, ID string }
	if err := m.DecodeBody(&job); err != nil || job.Kind != "rotate" || job.ID != "job-42" {
		t.Errorf("DecodeBody = %+v, %v", job, err)
	}
	// DecodeData on the double-encoded value reaches the same object.
	var job2 struct{ Kind, ID string }
	if err := inv.DecodeData("msg", &job2); err != nil || job2 != job {
		t.Errorf("DecodeData = %+v, %v", job2, err)
	}
	want := ServiceBusMessage{
		MessageID: "job-42", DeliveryCount: 1, SequenceNumber: 17,
		EnqueuedTime: mustTime(t, "2023-10-12T19:13:49Z"), ExpiresAt: mustTime(t, "2023-10-12T20:13:49Z"),
		Subject: "rotate", CorrelationID: "scan-2023-10-12", ContentType: "application/json",
		LockToken:             "4e773554-f6b7-4ea2-b07d-4c5fd5aba741",
		ApplicationProperties: map[string]any{"attempt": float64(2), "tenant": "contoso"},
	}
	got := m
	got.Body, got.ShadowedKeys = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("message =\n %+v\nwant\n %+v", got, want)
	}
	// "id" in the body is not a Service Bus key; nothing is shadowed.
	if len(m.ShadowedKeys) != 0 {
		t.Errorf("ShadowedKeys = %v, want none", m.ShadowedKeys)
	}
}

func TestServiceBusTextBodyAndFallbacks(t *testing.T) {
	inv := fixture(t, "servicebus_text_body.json", "Jobs")
	m, err := inv.ServiceBusMessage("msg")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Body) != "hello" {
		t.Errorf("Body = %q, want hello", m.Body)
	}
	var s string
	if err := inv.DecodeData("msg", &s); err != nil || s != "hello" {
		t.Errorf("DecodeData(string) = %q, %v", s, err)
	}
	// MessageId "123" is numeric text: still a string ID.
	if m.MessageID != "123" || m.DeliveryCount != 3 || m.Subject != "legacy-label" {
		t.Errorf("MessageID/DeliveryCount/Subject = %q/%d/%q", m.MessageID, m.DeliveryCount, m.Subject)
	}
	// Only the zone-less back-compat EnqueuedTimeUtc is present: read as UTC.
	if want := mustTime(t, "2023-10-12T20:13:49Z"); !m.EnqueuedTime.Equal(want) {
		t.Errorf("EnqueuedTime = %v, want %v", m.EnqueuedTime, want)
	}
	if !m.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt = %v, want zero (absent)", m.ExpiresAt)
	}
}

func TestServiceBusShadowedKeys(t *testing.T) {
	// A body with a MessageId field overwrites Metadata.MessageId in the host
	// (ApplyBindingData; host issue #7119) — the collision is reported.
	body := `{"Data":{"msg":"\"{\\\"MessageId\\\":\\\"from-body\\\",\\\"deliverycount\\\":9}\""},
		"Metadata":{"MessageId":"\"from-body\"","DeliveryCount":"9"}}`
	inv, err := NewInvocation("Jobs", "", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	m, err := inv.ServiceBusMessage("msg")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"MessageId", "deliverycount"}; !reflect.DeepEqual(m.ShadowedKeys, want) {
		t.Errorf("ShadowedKeys = %v, want %v", m.ShadowedKeys, want)
	}
	if _, err := inv.ServiceBusMessage("other"); !errors.Is(err, ErrNoData) {
		t.Errorf("missing binding err = %v", err)
	}
}

func TestHTTPRequest(t *testing.T) {
	// Shape: KarlGW/azfunc trigger/http_test.go; host GetRequestAsJObject.
	inv := fixture(t, "http_report.json", "Report")
	req, err := inv.HTTPRequest("req")
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "GET" || req.URL != "http://localhost:7071/api/report?format=json" {
		t.Errorf("Method/URL = %q/%q", req.Method, req.URL)
	}
	if req.Query["format"] != "json" || len(req.Params) != 0 || req.Body != "" {
		t.Errorf("Query/Params/Body = %v/%v/%q", req.Query, req.Params, req.Body)
	}
	if req.Header("accept") != "application/json" || !reflect.DeepEqual(req.Headers["User-Agent"], []string{"curl/8.5.0"}) {
		t.Errorf("Headers = %v", req.Headers)
	}
	if len(req.Identities) == 0 {
		t.Error("Identities dropped")
	}
	// Metadata carries route data as plain strings.
	if q, ok := inv.MetadataString("Query"); !ok || q != `{"format":"json"}` {
		t.Errorf("Metadata.Query = %q, %v", q, ok)
	}
}

func TestHTTPRequestLenientShapes(t *testing.T) {
	// DOCS-CH example shows "Query": "{}" as a string; bodies may be non-strings.
	raw := `{"Url":"http://x/api/report","Method":"POST","Query":"{\"a\":\"1\"}","Params":null,
		"Headers":{"Content-Type":"application/json","X-Multi":["1","2"]},"Body":{"k":[1,2]}}`
	var r HTTPRequest
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	if r.Query["a"] != "1" || r.Params == nil {
		t.Errorf("Query/Params = %v/%v", r.Query, r.Params)
	}
	if r.Header("content-type") != "application/json" || len(r.Headers["X-Multi"]) != 2 {
		t.Errorf("Headers = %v", r.Headers)
	}
	if r.Body != `{"k":[1,2]}` {
		t.Errorf("Body = %q", r.Body)
	}
}

func TestHTTPResponseEncoding(t *testing.T) {
	res, err := JSONResponse(201, map[string]int{"findings": 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"statusCode": "201", "status": "201", "body": `{"findings":3}`,
		"headers": map[string]any{"Content-Type": "application/json; charset=utf-8"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("encoded = %s\nwant %v", b, want)
	}
	// Zero value still has all four keys and a 200.
	b, _ = json.Marshal(HTTPResponse{})
	if string(b) != `{"statusCode":"200","status":"200","body":"","headers":{}}` {
		t.Errorf("zero HTTPResponse = %s", b)
	}
	if tr := TextResponse(404, "nope"); tr.StatusCode != 404 || !strings.HasPrefix(tr.Headers["Content-Type"], "text/plain") {
		t.Errorf("TextResponse = %+v", tr)
	}
}
