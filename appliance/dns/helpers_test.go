package dns

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// testTimeout bounds every wait in the tests; reaching it is a failure.
const testTimeout = 5 * time.Second

// testServer is a responder serving on 127.0.0.1 in the background.
type testServer struct {
	*Server
	udp, tcp string // addresses
	stop     func() error
}

// startServer serves cfg (Addr forced to 127.0.0.1:0) until the test ends.
// The sockets are bound before it returns, so queries may be sent at once.
func startServer(t testing.TB, cfg Config, obs Observer) *testServer {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := New(cfg, obs, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-served:
			case <-time.After(testTimeout):
				stopErr = context.DeadlineExceeded
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	u, tc := s.Addr()
	return &testServer{Server: s, udp: u.String(), tcp: tc.String(), stop: stop}
}

// exchange sends m over network ("udp" or "tcp") to addr and returns the
// answer.
func exchange(t testing.TB, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: testTimeout}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s exchange with %s for %v: %v", network, addr, m.Question, err)
	}
	return r
}

// query is a question for name and qtype, class IN, with RD set as stub
// resolvers send it.
func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// summary is what the tests compare of an answer.
type summary struct {
	Rcode      string
	AA, TC, RA bool
	Answer     []string
	Extra      []string // OPT excluded; see EDNS
	EDNS       string   // "v0 4096 do" or "" without OPT
}

func summarise(m *dns.Msg) summary {
	s := summary{Rcode: rcodeName(m.Rcode), AA: m.Authoritative, TC: m.Truncated, RA: m.RecursionAvailable}
	for _, rr := range m.Answer {
		s.Answer = append(s.Answer, rrString(rr))
	}
	for _, rr := range m.Extra {
		if opt, ok := rr.(*dns.OPT); ok {
			s.EDNS = "v" + strconv.Itoa(int(opt.Version())) + " " + strconv.Itoa(int(opt.UDPSize()))
			if opt.Do() {
				s.EDNS += " do"
			}
			continue
		}
		s.Extra = append(s.Extra, rrString(rr))
	}
	return s
}

// rrString is rr in presentation format with single spaces.
func rrString(rr dns.RR) string {
	return strings.Join(strings.Fields(rr.String()), " ")
}

// answerCase is one question to one of a test's servers (by name) and the
// answer it wants.
type answerCase struct {
	name   string
	server string
	q      dns.Question
	want   summary
}

// checkAnswers asks every case over UDP and over TCP and compares the
// answer; the question must come back as it was asked.
func checkAnswers(t *testing.T, servers map[string]*testServer, tests []answerCase) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.server+"/"+tt.name, func(t *testing.T) {
				srv := servers[tt.server]
				addr := map[string]string{"udp": srv.udp, "tcp": srv.tcp}[network]
				m := new(dns.Msg)
				m.Id = dns.Id()
				m.RecursionDesired = true
				m.Question = []dns.Question{tt.q}
				r := exchange(t, network, addr, m)
				if diff := cmp.Diff(tt.want, summarise(r)); diff != "" {
					t.Errorf("%s %s (-want +got):\n%s", dns.TypeToString[tt.q.Qtype], tt.q.Name, diff)
				}
				if len(r.Question) != 1 || r.Question[0] != tt.q {
					t.Errorf("question = %v, want %v", r.Question, tt.q)
				}
			})
		}
	}
}
