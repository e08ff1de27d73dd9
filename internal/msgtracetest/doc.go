// Package msgtracetest is a local, honest stand-in for the Microsoft services the
// office365_message_trace receiver talks to: the Entra ID (Azure AD) token endpoint,
// the Graph message trace list API and the legacy Reporting Web Service MessageTrace
// report. One HTTPS server (fresh CA per server) plays all three hosts.
//
// Reading order (data flow of one request):
//
//	server.go   NewServer/New/Close, routing, request recording
//	multi.go    MultiServer: many tenants behind one address (by login path and token)
//	api.go      the API pipeline (fault -> token -> quota -> query -> latency) and
//	            the Graph/legacy error bodies
//	tls.go      CA and server certificate, client certificates for private_key_jwt
//	token.go    POST /{tenant}/oauth2/v2.0/token (and v1 /oauth2/token): secrets,
//	            HTTP Basic, JWT client assertions, AADSTS error bodies
//	federated.go federated identity credentials (workload identity): trusted issuer,
//	            subject, audience, expiry and signature of a federated client assertion;
//	            FederatedIssuer signs such tokens
//	metadata.go MetadataServer, a fake Azure Instance Metadata Service token endpoint on
//	            loopback handing out the tenant's tokens per managed identity, with faults
//	quota.go    rolling per-tenant request quota, 429 + Retry-After, violations
//	faults.go   queued and random (seeded) faults
//	hostile.go  hostile faults (redirects, oversized pages, rows beyond $top, bad rows,
//	            token echoes, bodies without a length), next-links that repeat their page
//	            (RepeatNextLinks), Row.Corrupt, and Trap, a listener that records credentials
//	rows.go     the row store: ordering, visibility (VisibleAt), status settling
//	filter.go   OData $filter parsing shared by Graph and legacy
//	graph.go    GET /{v1.0|beta}/admin/exchange/tracing/messageTraces
//	skiptoken.go Graph cursor skiptokens (MAC protected)
//	legacy.go   GET /ecp/reportingwebservice/reporting.svc/MessageTrace
//	jsonw.go    hand-written JSON encoding (independent of any decoder types)
//	generate.go deterministic synthetic rows
//	clock.go    a manual clock for Options.Now
//
// Typical use in a test:
//
//	clock := msgtracetest.NewClock(start)
//	srv := msgtracetest.New(t, msgtracetest.Options{ClientSecret: "s", Now: clock.Now})
//	srv.AddRows(msgtracetest.Generate(1, 500, from, to, msgtracetest.GenerateOptions{})...)
//	// point the receiver at srv.URL() (login and Graph host), trust srv.CAFile(dir),
//	// scope srv.GraphScope(); then assert on srv.Requests(), srv.QuotaViolations().
//
// Documented choices where the real services are undocumented or ambiguous:
//
//   - Pipeline order for an API request: a queued (or randomly drawn) fault is consumed
//     first and takes precedence over authentication and quota. Faults that replace the
//     answer (server error, HTML sign-in, 401, 403, 429, service principal missing) still
//     count towards the quota window. FaultSlow, FaultTruncatedJSON and
//     FaultPoisonNextLink modify the normal answer instead. Requests rejected by token
//     validation (401) do not count towards the tenant quota (no tenant is known).
//   - Quota: a rolling window of Options.QuotaWindow shared by Graph and legacy API
//     requests of the tenant; token requests never count. Throttled requests DO count
//     (conservative), so the Retry-After sent is the time until the window has a free
//     slot again, taking those throttled requests into account. After any 429 (quota or
//     FaultThrottle) requests that arrive before the Retry-After elapsed are answered
//     429 again and counted as violations.
//   - Token endpoint check order: method, tenant, grant_type, client_id, scope/resource,
//     credential. Client assertion failures give AADSTS700027 except time-window
//     problems (exp/nbf/iat), which give AADSTS700024; both are 401 invalid_client.
//     No clock skew is allowed on exp (must be in the future and at most 1h+5min
//     ahead); 5 min skew is allowed on nbf/iat.
//   - Graph: both bounds inclusive, no clock skew for "end not later than now",
//     rows newest-first by (receivedDateTime desc, id asc, lower(recipient) asc);
//     the skiptoken is a MAC-protected cursor (last row's received time, id and
//     recipient, plus the effective window) so rows that become visible between
//     page fetches are missed if newer than the cursor, and picked up if older.
//     A nextLink is only handed out when at least one more row exists.
//     `or` is accepted and treated as `and` with the last value per property winning
//     (observed behaviour). Status "recalled" is sent as "unknownFutureValue" unless
//     the request carries Prefer: include-unknown-enum-members.
//   - Legacy: ascending order (Received asc, then id, then recipient), offset paging by
//     Index, $top > 2000 is rejected with 400, bounds are inclusive, default window
//     is the last 48 h, start older than 10 days is rejected. Verbose envelope escapes
//     "/" and non-ASCII characters (WCF style, dates look like "\/Date(ms)\/"), the light
//     envelope sends raw UTF-8 and every tenth row (Index%10==9) carries a "Z" on
//     Received. Without $format=json or a JSON Accept header an Atom feed is sent.
//   - Legacy faults: FaultServerError is a 503 odata.error, FaultServicePrincipalMissing
//     and FaultUnauthorized give the IIS HTML 401 page, FaultThrottle and quota 429s use
//     the Graph TooManyRequests body (no legacy 429 body is documented), FaultForbidden
//     gives the documented {"ErrorCode":"","Message":"No permission ..."} body, and a
//     poisoned legacy nextLink (same $filter and $skiptoken) answers a 400 odata.error.
//   - Status settling: a Row may carry SettlesAt/FinalStatus; once Now() >= SettlesAt
//     the row reports FinalStatus (lazily, at query time). SetStatus overrides and
//     cancels any pending settlement.
//   - Hostile mode: FaultRedirect, FaultOversized, FaultExtraRows, FaultBadRow,
//     FaultChunkedBody and FaultGzipBody go to the API queue, FaultTokenRedirect and FaultTokenEcho to the token queue; none is in
//     AllFaultKinds or the random mix. FaultExtraRows is Graph only. Fault.RawRetryAfter sends
//     any Retry-After with FaultThrottle. Row.Corrupt keeps a bad row in the tenant (Graph).
//     RepeatNextLinks, a mode rather than a queued fault, makes every next-link answer its
//     page again with a link to itself (or a fresh link to the same page).
package msgtracetest
