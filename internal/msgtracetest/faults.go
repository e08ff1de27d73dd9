package msgtracetest

import (
	"math/rand/v2"
	"slices"
	"time"
)

// FaultKind names a misbehaviour of the services.
type FaultKind string

const (
	// FaultServerError answers 503 with a Graph error JSON body (legacy: odata.error).
	FaultServerError FaultKind = "server_error"
	// FaultHTMLSignIn answers 200 with an HTML "Sign in to Outlook" page (text/html).
	FaultHTMLSignIn FaultKind = "html_sign_in"
	// FaultTruncatedJSON answers the normal response with its body cut in the middle.
	// Content-Length matches the truncated body, so the HTTP exchange itself is clean
	// and only the JSON is broken. Only 200 answers are truncated.
	FaultTruncatedJSON FaultKind = "truncated_json"
	// FaultSlow answers normally after Fault.Delay (default 2s); the wait ends early
	// if the client gives up or the server closes.
	FaultSlow FaultKind = "slow"
	// FaultPoisonNextLink: the nextLink handed out on this (otherwise normal) response
	// answers 400 "Invalid starting recipient address" forever. No effect when the
	// response has no nextLink.
	FaultPoisonNextLink FaultKind = "poison_next_link"
	// FaultUnauthorized answers 401 and revokes the presented token; a fresh token works.
	FaultUnauthorized FaultKind = "unauthorized"
	// FaultServicePrincipalMissing answers 401 with the "service principal for App ID
	// 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found" body (legacy: IIS 401 page).
	FaultServicePrincipalMissing FaultKind = "service_principal_missing"
	// FaultForbidden answers 403 (Graph: missing role permission; legacy: "No permission
	// to access the report for the organization .").
	FaultForbidden FaultKind = "forbidden"
	// FaultThrottle answers 429 with Retry-After (Fault.RetryAfter, default 1s).
	FaultThrottle FaultKind = "throttle"
	// FaultTokenError makes the token endpoint answer an AADSTS error (Fault.AADSTS,
	// default AADSTS7000215). It goes to a separate queue consumed by token requests.
	FaultTokenError FaultKind = "token_error"
)

// AllFaultKinds lists every FaultKind.
var AllFaultKinds = []FaultKind{
	FaultServerError, FaultHTMLSignIn, FaultTruncatedJSON, FaultSlow, FaultPoisonNextLink,
	FaultUnauthorized, FaultServicePrincipalMissing, FaultForbidden, FaultThrottle, FaultTokenError,
}

// Fault is one injected misbehaviour.
type Fault struct {
	Kind FaultKind
	// Delay is used by FaultSlow (default 2s).
	Delay time.Duration
	// RetryAfter is used by FaultThrottle (default 1s; sent rounded up to whole seconds).
	RetryAfter time.Duration
	// AADSTS is used by FaultTokenError, e.g. "AADSTS7000215" or "700016"
	// (default AADSTS7000215 invalid_client).
	AADSTS string
	// RawRetryAfter, when set, is sent verbatim as FaultThrottle's Retry-After (e.g. an absurd
	// "9000000000" or an HTTP date centuries ahead).
	RawRetryAfter string
	// Status and Location are used by FaultRedirect and FaultTokenRedirect.
	Status   int
	Location string
	// Size is used by FaultOversized, Rows by FaultExtraRows, Value by FaultBadRow.
	Size  int
	Rows  int
	Value string
}

func (f Fault) withDefaults() Fault {
	if f.Kind == FaultSlow && f.Delay <= 0 {
		f.Delay = 2 * time.Second
	}
	if f.Kind == FaultThrottle && f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	return f.withHostileDefaults()
}

// InjectFaults queues faults. FaultTokenError goes to the token queue (one consumed
// per token request); every other kind goes to the API queue (one consumed per Graph
// or legacy request, in order). Queued faults take precedence over SetFaultMix.
func (s *Server) InjectFaults(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		f = f.withDefaults()
		if isTokenFault(f.Kind) {
			s.tokenFaults = append(s.tokenFaults, f)
		} else {
			s.apiFaults = append(s.apiFaults, f)
		}
	}
}

// SetServicePrincipalMissing makes the tenant lack (true) or have (false) the Transport Data
// Platform service principal: while it lacks it, every API request answers as
// FaultServicePrincipalMissing does, as Microsoft does until it has provisioned the principal.
func (s *Server) SetServicePrincipalMissing(missing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spMissing = missing
}

// PendingFaults is the number of queued faults not yet consumed.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.apiFaults) + len(s.tokenFaults)
}

type weightedKind struct {
	kind FaultKind
	p    float64
}

type faultMix struct {
	api, token       []weightedKind
	apiRng, tokenRng *rand.Rand
}

// SetFaultMix makes requests fail at random: for every API request one draw picks at
// most one fault kind with the given probability (FaultTokenError is drawn separately
// for token requests). Draws come from PCG streams seeded by seed, so the sequence of
// faults is deterministic for a given request order. Probabilities are clamped to
// [0,1] and scaled down if they sum to more than 1. Mixed faults use the defaults of
// Fault (Delay 2s, RetryAfter 1s, AADSTS7000215). A nil or empty map disables the mix.
func (s *Server) SetFaultMix(probabilities map[FaultKind]float64, seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(probabilities) == 0 {
		s.mix = nil
		return
	}
	m := &faultMix{
		apiRng:   rand.New(rand.NewPCG(uint64(seed), 0x6d73677472616365)),
		tokenRng: rand.New(rand.NewPCG(uint64(seed), 0x746f6b656e)),
	}
	for k, p := range probabilities {
		p = max(0, min(1, p))
		if p == 0 {
			continue
		}
		if k == FaultTokenError {
			m.token = append(m.token, weightedKind{k, p})
		} else {
			m.api = append(m.api, weightedKind{k, p})
		}
	}
	for _, l := range [][]weightedKind{m.api, m.token} {
		slices.SortFunc(l, func(a, b weightedKind) int {
			if a.kind < b.kind {
				return -1
			}
			if a.kind > b.kind {
				return 1
			}
			return 0
		})
		sum := 0.0
		for _, w := range l {
			sum += w.p
		}
		if sum > 1 {
			for i := range l {
				l[i].p /= sum
			}
		}
	}
	s.mix = m
}

func draw(rng *rand.Rand, l []weightedKind) (Fault, bool) {
	if len(l) == 0 {
		return Fault{}, false
	}
	x := rng.Float64()
	for _, w := range l {
		if x < w.p {
			return Fault{Kind: w.kind}.withDefaults(), true
		}
		x -= w.p
	}
	return Fault{}, false
}

// popAPIFaultLocked takes the next API fault (queue first, then mix). s.mu held.
func (s *Server) popAPIFaultLocked() (Fault, bool) {
	if s.spMissing {
		return Fault{Kind: FaultServicePrincipalMissing}, true
	}
	if len(s.apiFaults) > 0 {
		f := s.apiFaults[0]
		s.apiFaults = s.apiFaults[1:]
		return f, true
	}
	if s.mix != nil {
		return draw(s.mix.apiRng, s.mix.api)
	}
	return Fault{}, false
}

func (s *Server) popTokenFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokenFaults) > 0 {
		f := s.tokenFaults[0]
		s.tokenFaults = s.tokenFaults[1:]
		return f, true
	}
	if s.mix != nil {
		return draw(s.mix.tokenRng, s.mix.token)
	}
	return Fault{}, false
}

// htmlSignIn is what a login redirect looks like to a client that followed it.
const htmlSignIn = `<!DOCTYPE html>
<html dir="ltr" class="" lang="en">
<head>
    <title>Sign in to Outlook</title>
    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0, maximum-scale=2.0, user-scalable=yes">
</head>
<body>
    <form name="f1" method="post" action="https://login.microsoftonline.com/common/login">
        <div id="lightbox"><div role="heading" aria-level="1">Sign in</div>
        <input type="email" name="loginfmt" placeholder="Email, phone, or Skype" />
        <input type="submit" value="Next" /></div>
    </form>
</body>
</html>
`

// iis401 is the legacy service's answer to a bad or missing token.
const iis401 = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>401 - Unauthorized: Access is denied due to invalid credentials.</title>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>401 - Unauthorized: Access is denied due to invalid credentials.</h2>
  <h3>You do not have permission to view this directory or page using the credentials that you supplied.</h3>
 </fieldset></div>
</div>
</body>
</html>
`
