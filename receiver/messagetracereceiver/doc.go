// Package messagetracereceiver implements the office365_message_trace receiver: it polls
// Exchange Online message trace data and emits one log record per message and recipient.
//
// Where things are, in the order a row travels:
//
//   - factory.go, config.go: the component and its user contract (Validate);
//     details_config.go for the opt-in details block.
//   - receiver.go: lifecycle (Start, Shutdown) and the poll schedule; startup.go: the storage
//     client and the state, opened in the receiver's own goroutine, and details wired in;
//     startgate.go: how the receivers of one collector start together (a bounded wave of
//     first requests).
//   - passes.go: one poll: the settled and early passes take turns range by range (step).
//     pass.go: what differs between the two (set by newPasses). walk.go: a range is walked
//     page by page (walk, the steps of a rangeWalk: fetch, rowsOf, stale, deliverPage,
//     nextLink), and each row goes forward once (deliver): seen? changed? then a record, then
//     the pipeline, then the checkpoint.
//   - planner.go: which range to read next, resuming or clamping a checkpoint, and the
//     progress inside a range (rangeProgress, rangeOrder).
//   - api.go: everything that differs between Graph and the Reporting Web Service (traceAPI),
//     chosen once from `api`. client.go: the one Fetch the passes call, composed of four
//     layers, each using only what is below it (retry.go runs the attempt it is handed):
//     admission.go (the request budget of budget.go, the start wave of startgate.go, the page
//     memory of memory.go) -> request.go (token, HTTP; body.go reads the body within its
//     bounds) -> classify.go (what an answer means, as an error type) -> retry.go (whether
//     and when to try again); details_client.go sends details requests
//     through the same request layer. credentials.go picks the one token source the
//     configuration names: auth.go logs in as the app (secret, certificate, or the federated
//     token file of federated.go), managedidentity.go asks this machine's managed identity
//     endpoint; auth.go's tokenProvider caches either; httpclient.go builds the HTTP clients
//     (the API's, the managed identity's) and refuses redirects; setuperror.go: the errors
//     only a person can fix; errtext.go: the helpers that shape error text (URL, path, first
//     line, secrets scrubbed), calling nothing else here so that no layer calls back into
//     another's file to quote an error.
//   - internal/tracepage: response bodies to rows (a hand-written decoder; its README says why).
//   - status.go: the one table of delivery statuses; records.go: rows to log records (the
//     whole record shape).
//   - state.go: what survives a restart, in memory (receiverState: the checkpoint, the
//     remembered rows, the rows waiting for details; load, write) and where it is stored
//     (stateStorage); persisted.go: every stored key, version and layout; seen.go: rows
//     remembered between the early and the settled pass (noRows without an early pass);
//     checkpoint.go: when the state is saved; storagefile.go: a damaged file_storage file costs
//     its own tenant at most (checked before it is opened and before a save when something
//     else changed it, moved aside, replaced); statecopy.go: the copy of the state beside the
//     file that a replacement is restored from; health.go, logsummary.go: component status and
//     the hourly summary line; bounds.go: limits on what a server or a stored file may make the
//     receiver believe.
//   - internal/details: the opt-in message trace details (the pending rows and the turn that
//     fetches them within the budget); details.go is the receiver's side of them (what the
//     poll path calls, and the client, budgets and records as details see them);
//     details_state.go their part of the state, details_client.go the request,
//     details_decode.go and details_records.go answers to log records.
package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

//go:generate ../../.tools/mdatagen metadata.yaml
