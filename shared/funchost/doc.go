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
// must go to stderr (the router logs them via slog). Sources: [H1]–[H5], [D1].
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
// retry policy if configured). Sources: [H3], [D2], [D3].
//
// # Logs and levels
//
// The host logs every stdout line of the handler as Information. A stderr
// line is logged as Warning when it contains "warn" (any case), otherwise as
// Error, because an HTTP worker sets UseStdErrorStreamForErrorsOnly [H6], [H7].
// [NewLogger] therefore writes Warn and Error records to stderr (slog's text
// form says level=WARN / level=ERROR, which the host maps to Warning and
// Error) and everything below to stdout.
//
// # Quirks handled here
//
//   - String trigger values (Service Bus bodies, queue items) arrive
//     double-encoded as JSON strings; [Invocation.DecodeData] unwraps them [H4].
//   - Metadata strings arrive JSON-quoted ("\"abc\"") and numbers arrive as
//     strings ("1"); [Invocation.MetadataString] and [Invocation.MetadataInt]
//     accept both forms [H4], [K1].
//   - DateTime values may lack a zone ("2023-10-12T20:13:49") and the timer's
//     first-run Last is "0001-01-01T00:00:00"; [Time] parses leniently and maps
//     the .NET minimum to the zero time ("never") [W1].
//   - Output strings that happen to be valid base64 are turned into bytes by the
//     host; emit JSON objects or arrays as output values ([HTTPResponse] is an
//     object for that reason) — the router logs a warning for string outputs [H5].
//
// # Sources
//
// Every behaviour above is taken from these public sources; a reader of this
// repository can check each one.
//
//	[H1] github.com/Azure/azure-functions-host src/WebJobs.Script/Workers/Http/HttpWorkerConstants.cs
//	     (FUNCTIONS_CUSTOMHANDLER_PORT and the other variables the handler is started with)
//	[H2] github.com/Azure/azure-functions-host src/WebJobs.Script/Workers/Http/DefaultHttpWorkerService.cs
//	     (POST /<FunctionName>, IsWorkerReady and PingAsync on GET /, EnsureSuccessStatusCode,
//	     Logs processed only on success) and its tests
//	     test/WebJobs.Script.Tests/HttpWorker/DefaultHttpWorkerServiceTests.cs
//	[H3] github.com/Azure/azure-functions-host src/WebJobs.Script/Workers/Http/HttpScriptInvocationContext.cs
//	     and HttpScriptInvocationResult.cs (the {"Data","Metadata"} / {"Outputs","Logs","ReturnValue"} envelopes)
//	[H4] github.com/Azure/azure-functions-host src/WebJobs.Script/Workers/MessageExtensions/ScriptInvocationContextExtensions.cs
//	     (how trigger values and metadata are serialised: strings and numbers as JSON text)
//	[H5] github.com/Azure/azure-functions-host src/WebJobs.Script/Workers/MessageExtensions/HttpScriptInvocationResultExtensions.cs
//	     (output strings that parse as base64 become bytes)
//	[H6] github.com/Azure/azure-functions-host src/WebJobs.Script/Workers/Http/HttpWorkerDescription.cs
//	     (UseStdErrorStreamForErrorsOnly = true; defaultExecutablePath resolved against the script root)
//	[H7] github.com/Azure/azure-functions-host src/WebJobs.Script/Workers/ProcessManagement/WorkerProcess.cs
//	     (ParseErrorMessageAndLog: stderr lines with "warn" → Warning, others → Error; stdout → Information)
//	[W1] github.com/Azure/azure-webjobs-sdk-extensions src/WebJobs.Extensions/Extensions/Timers/TimerInfo.cs
//	     and Timers/Scheduling/ScheduleStatus.cs (timer payload)
//	[K1] github.com/KarlGW/azfunc trigger/*_test.go (observed invocation payloads of a Go custom handler, MIT)
//	[D1] learn.microsoft.com/azure/azure-functions/functions-custom-handlers
//	     (MicrosoftDocs/azure-docs articles/azure-functions/functions-custom-handlers.md)
//	[D2] learn.microsoft.com/azure/azure-functions/functions-bindings-error-pages
//	     (retries per trigger: Service Bus delivery count, Event Grid subscription retry)
//	[D3] learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger
//	     (autoCompleteMessages: the function's result settles the message)
package funchost
