package dns

import (
	"strconv"
	"sync/atomic"

	"github.com/miekg/dns"
)

// The counter classes, in the order of counters.n.
var counterClasses = [...]string{classAppliance, classNTP, classSIP, classDirectory, classOther, classMalformed}

// Rcode buckets: the rcodes 0 to maxCountedRcode, then one for packets
// dropped without an answer, then one for any larger rcode an upstream
// sent.
const (
	maxCountedRcode = 23
	bucketDropped   = maxCountedRcode + 1
	bucketOther     = maxCountedRcode + 2
)

// rcodeDropped is the "rcode" of a packet that got no answer at all.
const rcodeDropped = "DROPPED"

// counters counts answers by name class and rcode without locks.
type counters struct {
	n [len(counterClasses)][bucketOther + 1]atomic.Uint64
}

func classIndex(class string) int {
	for i, c := range counterClasses {
		if c == class {
			return i
		}
	}
	return len(counterClasses) - 1 // not reached: every class is listed
}

// add counts one answer with rcode in class.
func (c *counters) add(class string, rcode int) {
	b := rcode
	if rcode < 0 || rcode > maxCountedRcode {
		b = bucketOther
	}
	c.n[classIndex(class)][b].Add(1)
}

// dropped counts one packet of class left unanswered.
func (c *counters) dropped(class string) {
	c.n[classIndex(class)][bucketDropped].Add(1)
}

// snapshot returns the non-zero counters keyed "class/RCODE".
func (c *counters) snapshot() map[string]uint64 {
	out := make(map[string]uint64)
	for i, class := range counterClasses {
		for b := range c.n[i] {
			if v := c.n[i][b].Load(); v > 0 {
				out[class+"/"+bucketName(b)] = v
			}
		}
	}
	return out
}

func bucketName(b int) string {
	switch b {
	case bucketDropped:
		return rcodeDropped
	case bucketOther:
		return "OTHER"
	}
	return rcodeName(b)
}

// rcodeName is the mnemonic of rcode. 16 is BADVERS here: this server
// speaks EDNS, not TSIG.
func rcodeName(rcode int) string {
	if rcode == dns.RcodeBadVers {
		return "BADVERS"
	}
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rcode)
}
