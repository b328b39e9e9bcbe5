// Package funchost implements the Azure Functions custom-handler protocol for
// IdP Keeper: the invocation request/response envelopes, tolerant decoders for
// the host's encoding quirks, typed trigger payloads, a router keyed by
// function name, and the listener/serve loop.
//
// It uses the standard library only, so the protocol can be tested (and
// fuzzed) without the Azure SDKs.
//
// # Protocol summary
//
// The Functions host starts the handler binary with FUNCTIONS_CUSTOMHANDLER_PORT
// set, polls GET / until any HTTP response arrives, then invokes each function
// with POST /<FunctionName> and a JSON body {"Data": {...}, "Metadata": {...}}.
// The handler answers 2xx with Content-Type application/json and
// {"Outputs": {...}, "Logs": [...], "ReturnValue": ...}. Any non-2xx status
// fails the invocation and the host drops Outputs and Logs, so failure details
// must go to stderr (the router logs them via slog).
// Source: /work/shared/research/functions-host.md §1.2–§1.4 (azure-functions-host
// DefaultHttpWorkerService, HttpScriptInvocationContext, HttpScriptInvocationResult).
//
// # Settlement: rejected versus failed
//
// A handler returns (*InvocationResponse, nil) when it has dealt with the input,
// including input it rejects as invalid or irrelevant: the host then completes
// the Service Bus message / acknowledges the Event Grid delivery and does not
// retry. Use [Rejected] to build such a response with an explanatory log line.
// A handler returns a non-nil error only when the work failed and should be
// retried: the router answers 500, the host fails the invocation, and the
// trigger's retry machinery takes over (Service Bus abandon → redelivery →
// dead-letter after MaxDeliveryCount; Event Grid subscription retry; timer
// retry policy if configured). Source: research notes §1.4, §2.2, §2.3, §7.
//
// # Quirks handled here
//
//   - String trigger values (Service Bus bodies, queue items) arrive
//     double-encoded as JSON strings; [Invocation.DecodeData] unwraps them.
//   - Metadata strings arrive JSON-quoted ("\"abc\"") and numbers arrive as
//     strings ("1"); [Invocation.MetadataString] and [Invocation.MetadataInt]
//     accept both forms.
//   - DateTime values may lack a zone ("2023-10-12T20:13:49") and the timer's
//     first-run Last is "0001-01-01T00:00:00"; [Time] parses leniently and maps
//     the .NET minimum to the zero time ("never").
//   - Output strings that happen to be valid base64 are turned into bytes by the
//     host; emit JSON objects or arrays as output values ([HTTPResponse] is an
//     object for that reason) — the router logs a warning for string outputs.
package funchost
