package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"fmt"
	"strings"
)

// Directions of a row, as a SOC filters mail (Elastic's local_domains, Sentinel's
// EmailDirection): seen from the organisation that owns local_domains.
const (
	directionInbound  = "inbound"  // from outside to a local recipient
	directionOutbound = "outbound" // from a local sender to outside
	directionInternal = "internal" // local to local
	directionExternal = "external" // neither address is local (relayed, or a domain not listed)
)

// Where the direction goes: an attribute, and a body key Devo's cloud.office365.messagetracing
// parser does not read (its fields are the Reporting Web Service's: MessageTraceId, MessageId,
// Organization, Received, SenderAddress, RecipientAddress, Subject, Status, ToIP, FromIP, Size,
// StartDate, EndDate, Index), so its columns stay as they are.
const (
	directionAttribute  = "exchange.message_trace.direction"
	directionBodyKey    = "direction"
	directionLegacyKey  = "Direction"
	maxLocalDomains     = 1000
	maxLocalDomainBytes = 253
)

// localDomains decides a row's direction from its sender's and recipient's domains. A listed
// domain covers itself and all its subdomains: with contoso.com, a@contoso.com and
// a@eu.mail.contoso.com are local, a@notcontoso.com is not. Case does not matter.
type localDomains struct {
	domains []string // lower case, without a trailing dot
}

// newLocalDomains is nil (no direction) for an empty list.
func newLocalDomains(list []string) *localDomains {
	if len(list) == 0 {
		return nil
	}
	l := &localDomains{domains: make([]string, 0, len(list))}
	for _, d := range list {
		l.domains = append(l.domains, normaliseDomain(d))
	}
	return l
}

func normaliseDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// isLocal says whether an address's domain is a listed domain or below one. An address without
// a domain (the null sender of a bounce) is not local.
func (l *localDomains) isLocal(address string) bool {
	at := strings.LastIndexByte(address, '@')
	if at < 0 || at == len(address)-1 {
		return false
	}
	domain := strings.TrimSuffix(strings.TrimRight(address[at+1:], ">"), ".")
	for _, d := range l.domains {
		if len(domain) < len(d) {
			continue
		}
		tail := domain[len(domain)-len(d):]
		if !strings.EqualFold(tail, d) {
			continue
		}
		if len(domain) == len(d) || domain[len(domain)-len(d)-1] == '.' {
			return true
		}
	}
	return false
}

// direction is the row's direction from its sender to its recipient.
func (l *localDomains) direction(sender, recipient string) string {
	from, to := l.isLocal(sender), l.isLocal(recipient)
	switch {
	case from && to:
		return directionInternal
	case from:
		return directionOutbound
	case to:
		return directionInbound
	}
	return directionExternal
}

// validateLocalDomains checks local_domains: domain names, no addresses, no wildcards (a
// domain covers its subdomains already), a bounded list.
func validateLocalDomains(list []string) []error {
	var errs []error
	if len(list) > maxLocalDomains {
		return []error{fmt.Errorf("`local_domains` has %d entries: use at most %d (a domain covers its subdomains, so list only the parents)", len(list), maxLocalDomains)}
	}
	for i, d := range list {
		n := normaliseDomain(d)
		switch {
		case strings.Contains(d, "@"):
			errs = append(errs, fmt.Errorf("`local_domains[%d]` %q is an address: list the domain only, e.g. contoso.com", i, d))
		case strings.HasPrefix(n, "*."):
			errs = append(errs, fmt.Errorf("`local_domains[%d]` %q has a wildcard: list %s, which covers its subdomains", i, d, strings.TrimPrefix(n, "*.")))
		case len(n) > maxLocalDomainBytes || !domainPattern.MatchString(n):
			errs = append(errs, fmt.Errorf("`local_domains[%d]` %q is not a domain name: use the form contoso.com (subdomains are covered)", i, d))
		}
	}
	return errs
}
