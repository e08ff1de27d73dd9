package msgtracetest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// GenerateOptions tunes Generate. The zero value gives 1-3 recipients per message,
// no late rows and no pending rows.
type GenerateOptions struct {
	// MinRecipients/MaxRecipients bound the recipients per message (default 1 and 3).
	MinRecipients, MaxRecipients int
	// LateFraction of rows get VisibleAt = Received + a uniform delay in (0, LateBy].
	LateFraction float64
	// LateBy is the maximum lateness (default 1h).
	LateBy time.Duration
	// PendingFraction of rows start as pending or gettingStatus and settle later
	// (SettlesAt/FinalStatus): 85% to delivered, 15% to failed.
	PendingFraction float64
	// SettleAfter is the maximum time from visibility to settlement (default 30m);
	// the actual delay is uniform in (0, SettleAfter].
	SettleAfter time.Duration
}

var (
	internalUsers = []string{
		"ana@contoso.com", "raj.patel@contoso.com", "dan.o'connor@contoso.com",
		"Kim.Nguyen@Contoso.com", "jürgen.müller@contoso.com", "ops-team@contoso.com",
		"li.wei@contoso.com", "maría.garcía@contoso.com", "svc_backup$@contoso.com",
		"o'neill+alerts@contoso.com",
	}
	distributionLists = []string{"all-staff@contoso.com", "finance-dl@contoso.com"}
	externalUsers     = []string{
		"billing@northwind.example", "noreply@fabrikam.example", "o'brien@tailspin.example",
		`"john doe"@adatum.example`, "support@wingtiptoys.example", "Newsletter@Litware.example",
		"ceo@woodgrove.example", "bounce-1234=ana=contoso.com@mailer.example",
	}
	subjects = []string{
		"Invoice 4471",
		"Überweisung für Jürgen – 請求書 ✓",
		`He said "hello" and left a back\slash`,
		"RE: O'Brien's Q3 review",
		"",
		"📧 Weekly newsletter — issue #42",
		"<script>alert('x')</script> & friends",
		"Tab\tseparated\r\nand CRLF",
		"Réunion: café à 10h",
		"Заказ № 123 подтверждён",
		"طلب شراء جديد",
		"FW: FW: RE: quarterly numbers (final) (2)",
		"Path C:\\Users\\dan\\report.xlsx",
		"A very long subject line that goes on and on to check that nothing truncates it somewhere along the way in a pipeline – 0123456789 0123456789 0123456789 0123456789",
	}
)

// Generate makes synthetic rows for `messages` messages received uniformly in
// [from, to) with millisecond precision, deterministically from seed. Every message
// has several recipients: the rows of one message share ID, MessageID, Sender,
// Subject and Received and differ in Recipient, Status, Size and ToIP. Rows are
// returned in generation order (not sorted).
func Generate(seed int64, messages int, from, to time.Time, opts GenerateOptions) []Row {
	if opts.MinRecipients <= 0 {
		opts.MinRecipients = 1
	}
	if opts.MaxRecipients <= 0 {
		opts.MaxRecipients = max(3, opts.MinRecipients)
	}
	if opts.MaxRecipients < opts.MinRecipients {
		opts.MaxRecipients = opts.MinRecipients
	}
	if opts.LateBy <= 0 {
		opts.LateBy = time.Hour
	}
	if opts.SettleAfter <= 0 {
		opts.SettleAfter = 30 * time.Minute
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d7367747261636b))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	uuid := func() string {
		var b [16]byte
		for i := 0; i < 16; i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return formatUUID(b)
	}
	ipv4 := func() string {
		nets := []string{"192.0.2", "198.51.100", "203.0.113"}
		return fmt.Sprintf("%s.%d", pick(nets), 1+rng.IntN(254))
	}
	ipv6 := func() string {
		return fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(0x10000), rng.IntN(0x10000), 1+rng.IntN(0xfffe))
	}
	spanMS := to.Sub(from).Milliseconds()
	from = from.UTC().Truncate(time.Millisecond)

	rows := make([]Row, 0, messages*(opts.MinRecipients+opts.MaxRecipients)/2)
	for m := range messages {
		id := uuid()
		var recv time.Time
		if spanMS > 0 {
			recv = from.Add(time.Duration(rng.Int64N(spanMS)) * time.Millisecond)
		} else {
			recv = from
		}
		direction := rng.Float64() // <0.5 inbound, <0.8 outbound, else internal
		var sender string
		var recipPool []string
		switch {
		case direction < 0.5:
			sender, recipPool = pick(externalUsers), internalUsers
		case direction < 0.8:
			sender, recipPool = pick(internalUsers), externalUsers
		default:
			sender, recipPool = pick(internalUsers), internalUsers
		}
		domain := sender[lastAt(sender)+1:]
		msgID := fmt.Sprintf("<%016x@mail.%s>", rng.Uint64(), domain)
		if rng.IntN(50) == 0 {
			msgID = "" // some rows have no Message-ID (legacy: null)
		}
		subject := pick(subjects)
		size := 1024 << rng.IntN(13)
		size += rng.IntN(size)
		fromIP := ""
		switch {
		case direction < 0.5 && rng.IntN(10) < 7:
			fromIP = ipv4()
		case direction < 0.5:
			fromIP = ipv6()
		case rng.IntN(10) < 7:
			fromIP = ipv6() // mailbox servers submit over IPv6
		}

		n := opts.MinRecipients + rng.IntN(opts.MaxRecipients-opts.MinRecipients+1)
		seen := map[string]bool{}
		for k := range n {
			recipient := pick(recipPool)
			if direction >= 0.5 && rng.IntN(20) == 0 {
				recipient = pick(distributionLists)
			}
			lr := strings.ToLower(recipient)
			if seen[lr] || lr == strings.ToLower(sender) {
				// try a numbered alias to keep (ID, recipient) unique
				recipient = fmt.Sprintf("user%d.%d@%s", m%97, k, recipient[lastAt(recipient)+1:])
				lr = strings.ToLower(recipient)
				if seen[lr] {
					continue
				}
			}
			seen[lr] = true

			row := Row{
				ID: id, MessageID: msgID, Sender: sender, Recipient: recipient, Subject: subject,
				Received: recv, Size: size + rng.IntN(512), FromIP: fromIP,
			}
			if direction >= 0.5 && direction < 0.8 {
				if rng.IntN(4) == 0 {
					row.ToIP = ipv6()
				} else {
					row.ToIP = ipv4()
				}
			}
			isDL := recipient == distributionLists[0] || recipient == distributionLists[1]
			p := rng.Float64()
			switch {
			case isDL:
				row.Status = StatusExpanded
			case p < opts.PendingFraction:
				row.Status = StatusPending
				if rng.IntN(2) == 0 {
					row.Status = StatusGettingStatus
				}
			default:
				q := rng.Float64()
				switch {
				case q < 0.90:
					row.Status = StatusDelivered
				case q < 0.94:
					row.Status = StatusFailed
				case q < 0.97 && direction < 0.5:
					row.Status = StatusFilteredAsSpam
				case direction < 0.5:
					row.Status = StatusQuarantined
				default:
					row.Status = StatusFailed
				}
			}
			if row.Status == StatusFailed || row.Status == StatusFilteredAsSpam || row.Status == StatusQuarantined {
				row.ToIP = ""
			}
			if rng.Float64() < opts.LateFraction {
				row.VisibleAt = recv.Add(time.Duration(1 + rng.Int64N(int64(opts.LateBy))))
			}
			if row.Status == StatusPending || row.Status == StatusGettingStatus {
				base := recv
				if !row.VisibleAt.IsZero() {
					base = row.VisibleAt
				}
				row.SettlesAt = base.Add(time.Duration(1 + rng.Int64N(int64(opts.SettleAfter))))
				row.FinalStatus = StatusDelivered
				if rng.IntN(100) < 15 {
					row.FinalStatus = StatusFailed
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func lastAt(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return i
		}
	}
	return -1
}
