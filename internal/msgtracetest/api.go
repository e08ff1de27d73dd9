package msgtracetest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveAPI is the pipeline shared by Graph and legacy requests:
// count -> fault -> token -> quota -> (slow) -> query -> (truncate/poison) -> latency.
func (s *Server) serveAPI(r *http.Request, rec *Request) *response {
	legacy := rec.Kind == KindLegacy
	aud := audGraph
	if legacy {
		aud = audLegacy
	}
	now := rec.Time

	s.mu.Lock()
	s.apiRequests++
	s.quota.seq++
	seq := s.quota.seq
	fault, hasFault := s.popAPIFaultLocked()
	if hasFault {
		rec.Fault = string(fault.Kind)
	}
	if hasFault && replacesAnswer(fault.Kind) {
		if s.earlyLocked(seq, now) {
			s.quota.violations++
			rec.Violation = true
		}
		s.countLocked(now)
		var ra time.Duration
		switch fault.Kind {
		case FaultUnauthorized:
			if tok, st := s.checkTokenLocked(r, aud, now); st == authOK {
				s.tokens[tok].revoked = true
			}
		case FaultThrottle:
			ra = s.sentRetryAfterLocked(fault.RetryAfter, now)
			rec.Throttled = true
		}
		s.mu.Unlock()
		resp := s.faultAnswer(r, fault.Kind, legacy, now, ra)
		if fault.Kind == FaultThrottle && fault.RawRetryAfter != "" {
			resp.header.Set("Retry-After", fault.RawRetryAfter)
		}
		if fault.Kind == FaultRedirect {
			resp = redirect(fault.Status, fault.Location)
		}
		s.sleep(r, s.opts.Latency)
		return resp
	}

	if _, st := s.checkTokenLocked(r, aud, now); st != authOK {
		s.mu.Unlock()
		resp := s.unauthorized(r, st, legacy, now)
		s.sleep(r, s.opts.Latency)
		return resp
	}
	if ok, ra := s.admitLocked(seq, now); !ok {
		rec.Throttled = true
		rec.Violation = true
		s.mu.Unlock()
		resp := throttled(r, now, ra)
		s.sleep(r, s.opts.Latency)
		return resp
	}
	s.mu.Unlock()

	if hasFault && fault.Kind == FaultSlow {
		s.sleep(r, fault.Delay)
	}
	poison := hasFault && fault.Kind == FaultPoisonNextLink
	var resp *response
	switch {
	case isDetailsPath(strings.ToLower(r.URL.Path)):
		resp = s.serveDetails(r, legacy)
	case legacy:
		resp = s.serveLegacy(r, poison)
	default:
		resp = s.serveGraph(r, poison)
	}
	if hasFault && fault.Kind == FaultTruncatedJSON && resp.status == http.StatusOK && len(resp.body) > 1 {
		resp.body = resp.body[:len(resp.body)/2]
	}
	if hasFault {
		spoil(resp, fault, legacy)
	}
	delay := s.opts.Latency + time.Duration(resp.rows)*s.opts.LatencyPer1000Rows/1000
	s.sleep(r, delay)
	return resp
}

func replacesAnswer(k FaultKind) bool {
	switch k {
	case FaultServerError, FaultHTMLSignIn, FaultUnauthorized, FaultServicePrincipalMissing, FaultForbidden, FaultThrottle, FaultRedirect:
		return true
	}
	return false
}

const graphJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// spMissingBody is the exact 401 body seen while the Transport Data Platform service
// principal is missing from the tenant.
const spMissingBody = `{"error":{"code":"Unauthorized","message":"Service principal-less Authentication failed: the service principal for App ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found. Please create a service principal for this app in your tenant. Provisioning may take several hours to complete."}}`

// legacyForbiddenBody is the legacy 403 body when the app lacks the directory role.
const legacyForbiddenBody = `{"ErrorCode":"","Message":"No permission to access the report for the organization ."}`

const tooManyRequestsMessage = "Your recent queries have surpassed the permitted limit. Please retry again later."

func (s *Server) faultAnswer(r *http.Request, k FaultKind, legacy bool, now time.Time, ra time.Duration) *response {
	switch k {
	case FaultServerError:
		if legacy {
			return odataError(http.StatusServiceUnavailable, "", "en-US", "The service is temporarily unavailable. Please try again later.")
		}
		return graphError(now, r, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable. Please try again later.")
	case FaultHTMLSignIn:
		return newResponse(http.StatusOK, "text/html; charset=utf-8", []byte(htmlSignIn))
	case FaultUnauthorized:
		return s.unauthorized(r, authRevoked, legacy, now)
	case FaultServicePrincipalMissing:
		if legacy {
			return s.unauthorized(r, authRevoked, legacy, now)
		}
		resp := newResponse(http.StatusUnauthorized, graphJSON, []byte(spMissingBody))
		setGraphHeaders(resp, r)
		return resp
	case FaultForbidden:
		if legacy {
			return newResponse(http.StatusForbidden, "application/json; charset=utf-8", []byte(legacyForbiddenBody))
		}
		return graphError(now, r, http.StatusForbidden, "Forbidden",
			"Missing role permissions on the request. API requires one of 'ExchangeMessageTrace.Read.All'. Roles on the request ''.")
	case FaultThrottle:
		return throttled(r, now, ra)
	case FaultRedirect:
		return nil // replaced by the caller
	}
	return graphError(now, r, http.StatusInternalServerError, "UnknownError", "unknown fault "+string(k))
}

func throttled(r *http.Request, now time.Time, ra time.Duration) *response {
	resp := graphError(now, r, http.StatusTooManyRequests, "TooManyRequests", tooManyRequestsMessage)
	resp.header.Set("Retry-After", strconv.FormatInt(int64(ra/time.Second), 10))
	return resp
}

func (s *Server) unauthorized(r *http.Request, st authState, legacy bool, now time.Time) *response {
	if legacy {
		resp := newResponse(http.StatusUnauthorized, "text/html", []byte(iis401))
		resp.header.Set("WWW-Authenticate", `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"`)
		return resp
	}
	msg := "Access token validation failure."
	switch st {
	case authMissing:
		msg = "Access token is empty."
	case authExpired:
		msg = "Lifetime validation failed, the token is expired."
	case authRevoked:
		msg = "Access token has expired or is not yet valid."
	case authWrongAudience:
		msg = "Access token validation failure. Invalid audience."
	}
	resp := graphError(now, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	resp.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	return resp
}

func setGraphHeaders(resp *response, r *http.Request) (requestID, clientRequestID string) {
	requestID = newUUID()
	clientRequestID = r.Header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	resp.header.Set("request-id", requestID)
	resp.header.Set("client-request-id", clientRequestID)
	resp.header.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"msgtracetest"}}`)
	resp.header.Set("Strict-Transport-Security", "max-age=31536000")
	return requestID, clientRequestID
}

// graphError builds {"error":{"code":..,"message":..,"innerError":{date,request-id,client-request-id}}}.
func graphError(now time.Time, r *http.Request, status int, code, message string) *response {
	resp := newResponse(status, graphJSON, nil)
	reqID, cliID := setGraphHeaders(resp, r)
	b := []byte(`{"error":{`)
	b = appendStrField(b, "code", code, true, jsonStyle{})
	b = appendStrField(b, "message", message, false, jsonStyle{})
	b = appendKey(b, "innerError", false)
	b = append(b, '{')
	b = appendStrField(b, "date", now.UTC().Format("2006-01-02T15:04:05"), true, jsonStyle{})
	b = appendStrField(b, "request-id", reqID, false, jsonStyle{})
	b = appendStrField(b, "client-request-id", cliID, false, jsonStyle{})
	b = append(b, "}}}"...)
	resp.body = b
	return resp
}

// odataError builds the legacy {"odata.error":{"code":..,"message":{"lang":..,"value":..}}}.
func odataError(status int, code, lang, value string) *response {
	b := []byte(`{"odata.error":{`)
	b = appendStrField(b, "code", code, true, jsonStyle{})
	b = append(b, `,"message":{`...)
	b = appendStrField(b, "lang", lang, true, jsonStyle{})
	b = appendStrField(b, "value", value, false, jsonStyle{})
	b = append(b, "}}}"...)
	return newResponse(status, "application/json;odata=minimalmetadata;streaming=true;charset=utf-8", b)
}
